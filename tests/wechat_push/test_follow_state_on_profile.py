"""Follow state on Profile, on both databases: the customer, support, compliance and service
see `wechatFollows`, the analyst is FORBIDDEN; and a merge carries it to the survivor (a
follower whose profile is folded into the one their UnionID already had)."""

from __future__ import annotations

import time

import pytest

from cdp.auth import Role
from cdp.wechat.push_processor import PushProcessor
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.people import link
from tests.wechat_push.pushing import MINI, OA, WechatSide, event

pytestmark = pytest.mark.usefixtures("backend")
FOLLOWS = "wechatFollows { appId following since scene }"
UNION = "oUnionFollowMerge00000000001"


async def test_follow_state_is_carried_through_a_merge_and_shown_to_the_roles_allowed(
    wechat: WechatSide, processor: PushProcessor, client_for: ClientFactory
) -> None:
    service = client_for(Role.SERVICE)
    older = await link(service, "MINI_PROGRAM", MINI, "oMiniFollowMerge0000000001", UNION)
    follower, now = "oOffiFollowMerge0000000001", int(time.time())
    await wechat.accepted(OA, event(follower, "subscribe", now - 5, EventKey="qrscene_cup"))
    await processor.drain()
    # The official account learns the UnionID: the follower's newer profile folds into the
    # older one.
    merged = await link(service, "OFFICIAL_ACCOUNT", OA, follower, UNION)
    assert merged["id"] == older["id"]
    expected = [{"appId": OA, "following": True, "scene": "cup"}]
    lookup = f'profile(id: "{older["id"]}", purpose: "follow check") {{ {FOLLOWS} }}'
    for role in (Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE):
        body = await gql(client_for(role), f"{{ {lookup} }}")
        follows = body["data"]["profile"]["wechatFollows"]
        assert [{k: f[k] for k in ("appId", "following", "scene")} for f in follows] == expected
    me = await gql(client_for(Role.CUSTOMER, subject=older["id"]), f"{{ me {{ {FOLLOWS} }} }}")
    assert me["data"]["me"]["wechatFollows"][0]["scene"] == "cup"
    # A later unfollow from the same OpenID lands on the survivor.
    await wechat.accepted(OA, event(follower, "unsubscribe", now))
    await processor.drain()
    body = await gql(service, f"{{ {lookup} }}")
    assert body["data"]["profile"]["wechatFollows"][0]["following"] is False


async def test_the_analyst_is_forbidden_follow_state(client_for: ClientFactory) -> None:
    body = await gql(
        client_for(Role.ANALYST),
        f'{{ profile(id: "00000000-0000-0000-0000-000000000000", purpose: "x") {{ {FOLLOWS} }} }}',
    )
    assert error_codes(body) == ["FORBIDDEN"]
