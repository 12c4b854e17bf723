"""WeChat sign-in under the identity rules, on both databases: a sign-in whose UnionID would
join profiles beyond a limit keeps a review and still signs the person in, never a 5xx."""

from __future__ import annotations

from cdp.auth import Role
from cdp.devwechat.fake import MINI_APP_ID, FakeWechat, WechatUser
from tests.conftest import ClientFactory, gql
from tests.support.people import link

MINI = "/auth/wechat/mini-program"
REVIEWS = "{ identityReviews { items { profileId otherProfileId rule status detail } } }"


async def reviews(client_for: ClientFactory) -> list[dict[str, object]]:
    body = await gql(client_for(Role.COMPLIANCE), REVIEWS)
    assert "errors" not in body, body
    return body["data"]["identityReviews"]["items"]  # type: ignore[no-any-return]


async def test_a_sign_in_beyond_the_limit_keeps_a_review_and_signs_in_to_the_openids_profile(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    service = client_for(Role.SERVICE)
    user = WechatUser(union_id="oUnIoNrules00000000000000001")
    mine = await link(service, "MINI_PROGRAM", MINI_APP_ID, user.open_id(MINI_APP_ID))
    other = await link(
        service, "MINI_PROGRAM", MINI_APP_ID, "oMini_rules_other_0000000001", user.union_id
    )
    response = await client_for(None).post(
        MINI, json={"appId": MINI_APP_ID, "code": wechat.code_for(MINI_APP_ID, user)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["profileId"] == mine["id"]
    [review] = await reviews(client_for)
    assert (review["profileId"], review["otherProfileId"]) == (mine["id"], other["id"])
    assert review["status"] == "OPEN" and review["detail"]["via"] == "wechat.sign_in"  # type: ignore[index]
    again = await client_for(None).post(
        MINI, json={"appId": MINI_APP_ID, "code": wechat.code_for(MINI_APP_ID, user)}
    )
    assert again.json()["profileId"] == mine["id"]
    assert len(await reviews(client_for)) == 1


async def test_a_new_openid_beyond_the_limit_signs_in_to_a_profile_of_its_own_under_review(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    service = client_for(Role.SERVICE)
    user = WechatUser(union_id="oUnIoNrules00000000000000002")
    other = await link(
        service, "MINI_PROGRAM", MINI_APP_ID, "oMini_rules_other_0000000002", user.union_id
    )
    response = await client_for(None).post(
        MINI, json={"appId": MINI_APP_ID, "code": wechat.code_for(MINI_APP_ID, user)}
    )
    assert response.status_code == 200, response.text
    own = response.json()["profileId"]
    assert own != other["id"]
    [review] = await reviews(client_for)
    assert (review["profileId"], review["otherProfileId"]) == (own, other["id"])
    assert review["rule"] == "open_id"
    customer = client_for(None)
    customer.headers["authorization"] = f"Bearer {response.json()['token']}"
    me = await gql(customer, "{ me { id unionId } }")
    assert me["data"]["me"] == {"id": own, "unionId": None}
