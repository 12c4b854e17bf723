"""Signing in from a mini-program and from an official account, on both databases: the token
`me` accepts, one profile across apps by UnionID, WeChat's refusals as coded errors, the OAuth
state check, suppression of erased people, auditing, and a session key that never leaves."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.devwechat.fake import (
    MINI_APP_ID,
    OA_APP_ID,
    USERINFO_APP_ID,
    FakeWechat,
    WechatUser,
)
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.wechat_signin import MINI, me_with, mini_sign_in, refused

AUTHORIZE = "/auth/wechat/official-account/authorize"
CALLBACK = "/auth/wechat/official-account/callback"
AUDIT = """query { auditEvents(first: 50, action: AUTH_WECHAT) {
  items { actorSubject actorRole outcome profileSurrogateId } } }"""


def person(n: int) -> WechatUser:
    return WechatUser(union_id=f"oUnIoNsignin{n:016d}")


@pytest.fixture
def anonymous(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


async def authorize(client: httpx.AsyncClient, app_id: str = OA_APP_ID) -> dict[str, str]:
    """The redirect to WeChat's consent page, as query parameters; the state cookie is kept."""
    response = await client.get(AUTHORIZE, params={"appId": app_id})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.endswith("#wechat_redirect")
    return {
        k: v[0]
        for k, v in parse_qs(urlsplit(location.removesuffix("#wechat_redirect")).query).items()
    }


def token_in_fragment(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/h5/" and "token" not in location.query
    return parse_qs(location.fragment)["token"][0]


# --- the mini-program ---------------------------------------------------------------------------


async def test_mini_program_sign_in_gives_a_customer_token_that_me_accepts(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat, settings: Settings
) -> None:
    user = person(1)
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"token", "tokenType", "expiresIn", "profileId", "accountCancellation"}
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 7200
    me = await me_with(client_for, body["token"])
    assert me["id"] == body["profileId"] and me["unionId"] == user.union_id
    assert me["identities"] == [
        {"channel": "MINI_PROGRAM", "appId": MINI_APP_ID, "openId": user.open_id(MINI_APP_ID)}
    ]


async def test_the_customer_token_lives_as_long_as_the_configured_session(
    anonymous: httpx.AsyncClient, wechat: FakeWechat, settings: Settings
) -> None:
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(2)))
    claims = jwt.decode(
        response.json()["token"], settings.jwt_secret.get_secret_value(), algorithms=["HS256"]
    )
    assert claims["role"] == "customer" and claims["sub"] == response.json()["profileId"]
    assert claims["exp"] - claims["iat"] == settings.customer_session_ttl_seconds


async def test_signing_in_again_gives_the_same_profile(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    user = person(3)
    first = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    again = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    assert first.json()["profileId"] == again.json()["profileId"]


@pytest.mark.parametrize(
    ("errcode", "status", "code", "reason"),
    [
        (40029, 401, "UNAUTHENTICATED", "WECHAT_CODE_INVALID"),
        (40163, 401, "UNAUTHENTICATED", "WECHAT_CODE_USED"),
        (45011, 429, "QUERY_TOO_COMPLEX", "WECHAT_RATE_LIMITED"),
        (40226, 403, "FORBIDDEN", "WECHAT_RISKY_USER"),
        (40125, 502, "INTERNAL", "WECHAT_UPSTREAM"),
    ],
)
async def test_each_wechat_refusal_is_a_coded_error_with_its_reason(
    anonymous: httpx.AsyncClient,
    wechat: FakeWechat,
    errcode: int,
    status: int,
    code: str,
    reason: str,
) -> None:
    wechat.then("/sns/jscode2session", {"errcode": errcode})
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(4)))
    error = refused(response, status, code)
    assert error["extensions"]["reason"] == reason and error["extensions"]["errcode"] == errcode
    if status == 429:
        assert response.headers["retry-after"] == "60"


async def test_a_code_from_no_one_and_a_used_code_are_unauthenticated(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    refused(await mini_sign_in(anonymous, "0nobodys-code"), 401, "UNAUTHENTICATED")
    code = wechat.code_for(MINI_APP_ID, person(5))
    assert (await mini_sign_in(anonymous, code)).status_code == 200
    error = refused(await mini_sign_in(anonymous, code), 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "WECHAT_CODE_USED"


async def test_system_busy_then_success_signs_in(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    wechat.then("/sns/jscode2session", {"errcode": -1}, {"errcode": -1})
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(6)))
    assert response.status_code == 200, response.text
    assert len(wechat.calls_to("/sns/jscode2session")) == 3


async def test_system_busy_on_every_try_is_503_with_retry_after(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    wechat.then("/sns/jscode2session", *[{"errcode": -1}] * 5)
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(7)))
    error = refused(response, 503, "INTERNAL")
    assert error["extensions"]["reason"] == "WECHAT_BUSY" and response.headers["retry-after"]
    assert len(wechat.calls_to("/sns/jscode2session")) == 3


async def test_a_wechat_timeout_is_503(anonymous: httpx.AsyncClient, wechat: FakeWechat) -> None:
    wechat.then("/sns/jscode2session", {"delay": 4.0})
    response = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(8)))
    assert refused(response, 503, "INTERNAL")["extensions"]["reason"] == "WECHAT_TIMEOUT"


@pytest.mark.parametrize(
    "body",
    [
        {"appId": "wx0000000000000000", "code": "0abc"},  # not one of the brand's apps
        {"appId": OA_APP_ID, "code": "0abc"},  # an official account, not a mini-program
        {"appId": MINI_APP_ID},
        {"appId": MINI_APP_ID, "code": ""},
        {"appId": MINI_APP_ID, "code": 12345},
        {"appId": MINI_APP_ID, "code": "x" * 300},
        {"appId": MINI_APP_ID, "code": "换行\n"},
        {"code": "0abc"},
        ["not", "an", "object"],
    ],
)
async def test_an_unknown_app_or_a_malformed_body_is_bad_user_input(
    anonymous: httpx.AsyncClient, wechat: FakeWechat, body: Any
) -> None:
    refused(await anonymous.post(MINI, json=body), 400, "BAD_USER_INPUT")
    assert wechat.calls_to("/sns/jscode2session") == []


async def test_a_body_that_is_not_json_is_bad_user_input(anonymous: httpx.AsyncClient) -> None:
    refused(await anonymous.post(MINI, content=b"{oops"), 400, "BAD_USER_INPUT")
    response = await anonymous.post(
        MINI, content=b"appId=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    refused(response, 400, "BAD_USER_INPUT")
    refused(await anonymous.post(MINI, content=b"{}" + b" " * 5000), 400, "BAD_USER_INPUT")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        pytest.param(b"[" * 2000 + b"]" * 2000, None, id="nested-2000-deep"),
        pytest.param(b'{"appId": {"a": ' * 70 + b"1" + b"}" * 70, None, id="nested-objects"),
        pytest.param(b'{"appId": "wx\\ud800", "code": "0abc"}', "appId", id="lone-surrogate"),
        pytest.param(b'{"appId": "x", "appId": "y", "code": "0abc"}', None, id="duplicate-key"),
        pytest.param('{"appId": "x", "code": "c"}'.encode("utf-16"), None, id="utf-16"),
    ],
)
async def test_a_hostile_sign_in_body_is_bad_user_input_before_wechat_is_asked(
    anonymous: httpx.AsyncClient, wechat: FakeWechat, content: bytes, field: str | None
) -> None:
    response = await anonymous.post(
        MINI, content=content, headers={"content-type": "application/json"}
    )
    error = refused(response, 400, "BAD_USER_INPUT")
    assert error["extensions"].get("field") == field
    assert wechat.calls_to("/sns/jscode2session") == []


async def test_an_erased_person_is_suppressed_on_sign_in(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(9)
    signed_in = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    profile_id = signed_in.json()["profileId"]
    request = await gql(
        client_for(Role.COMPLIANCE, subject="officer-a"),
        "mutation($p: ID!) { requestErasure(input: {profileId: $p, mode: DELETE, "
        'reason: "PIPL 删除请求 #12"}) { id } }',
        {"p": profile_id},
    )
    approved = await gql(
        client_for(Role.COMPLIANCE, subject="officer-b"),
        "mutation($r: ID!) { approveErasure(input: {requestId: $r}) { status } }",
        {"r": request["data"]["requestErasure"]["id"]},
    )
    assert approved["data"]["approveErasure"]["status"] == "COMPLETED", approved
    again = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    refused(again, 403, "SUPPRESSED")
    # The official account's OpenID is new, but the UnionID is the erased person's.
    await authorize(anonymous, USERINFO_APP_ID)
    state = anonymous.cookies["cdp_wechat_state"]
    code = wechat.code_for(USERINFO_APP_ID, user, scope="snsapi_userinfo")
    response = await anonymous.get(
        CALLBACK, params={"appId": USERINFO_APP_ID, "code": code, "state": state}
    )
    refused(response, 403, "SUPPRESSED")


async def test_sign_ins_and_refusals_are_audited_without_identifiers(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(10)
    ok = await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))
    await mini_sign_in(anonymous, "0nobodys-code")
    body = await gql(client_for(Role.COMPLIANCE), AUDIT)
    items = body["data"]["auditEvents"]["items"]
    outcomes = {(i["actorSubject"], i["actorRole"], i["outcome"]) for i in items}
    assert (ok.json()["profileId"], "CUSTOMER", "OK") in outcomes
    assert (f"wechat:{MINI_APP_ID}", "CUSTOMER", "UNAUTHENTICATED") in outcomes
    assert user.open_id(MINI_APP_ID) not in str(body) and str(user.union_id) not in str(body)


async def test_the_session_key_never_leaves_in_a_response_or_a_log(
    anonymous: httpx.AsyncClient,
    client_for: ClientFactory,
    wechat: FakeWechat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(11)))]
    wechat.then("/sns/jscode2session", {"errcode": -1})
    responses.append(await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, person(12))))
    responses.append(await mini_sign_in(anonymous, "0nobodys-code"))
    audit = await gql(client_for(Role.COMPLIANCE), AUDIT.replace("outcome", "outcome action"))
    assert len(wechat.session_keys) == 2
    seen = "\n".join([*(r.text + str(r.headers) for r in responses), caplog.text, str(audit)])
    for session_key in wechat.session_keys:
        assert session_key not in seen
    # Nor the AppSecret or the code, which WeChat takes in the query string.
    assert "0f1e2d3c4b5a69788796a5b4c3d2e1f0" not in caplog.text


# --- the official account -----------------------------------------------------------------------


async def test_authorize_sets_a_state_cookie_and_redirects_to_wechat(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    response = await anonymous.get(AUTHORIZE, params={"appId": OA_APP_ID})
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{wechat.base_url}/connect/oauth2/authorize?")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and CALLBACK in cookie
    params = await authorize(anonymous)
    assert params["appid"] == OA_APP_ID and params["response_type"] == "code"
    assert params["scope"] == "snsapi_base"
    assert params["redirect_uri"] == f"http://cdp.test{CALLBACK}?appId={OA_APP_ID}"
    assert params["state"] == anonymous.cookies["cdp_wechat_state"]
    assert (await authorize(anonymous, USERINFO_APP_ID))["scope"] == "snsapi_userinfo"


async def test_authorize_refuses_an_app_that_is_not_an_official_account(
    anonymous: httpx.AsyncClient,
) -> None:
    for app_id in (MINI_APP_ID, "wx0000000000000000", ""):
        response = await anonymous.get(AUTHORIZE, params={"appId": app_id})
        refused(response, 400, "BAD_USER_INPUT")


async def test_the_official_account_signs_in_the_mini_program_person_by_unionid(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(13)
    mini = (await mini_sign_in(anonymous, wechat.code_for(MINI_APP_ID, user))).json()
    params = await authorize(anonymous, USERINFO_APP_ID)
    code = wechat.code_for(USERINFO_APP_ID, user, scope="snsapi_userinfo")
    response = await anonymous.get(
        CALLBACK, params={"appId": USERINFO_APP_ID, "code": code, "state": params["state"]}
    )
    assert response.headers["cache-control"] == "no-store"
    me = await me_with(client_for, token_in_fragment(response))
    assert me["id"] == mini["profileId"]
    assert {i["appId"] for i in me["identities"]} == {MINI_APP_ID, USERINFO_APP_ID}
    assert "cdp_wechat_state" not in anonymous.cookies  # one use


async def test_snsapi_userinfo_asks_user_info_for_the_unionid(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(14)
    params = await authorize(anonymous, USERINFO_APP_ID)
    code = wechat.code_for(USERINFO_APP_ID, user, scope="snsapi_userinfo", union_in_token=False)
    response = await anonymous.get(
        CALLBACK, params={"appId": USERINFO_APP_ID, "code": code, "state": params["state"]}
    )
    me = await me_with(client_for, token_in_fragment(response))
    assert me["unionId"] == user.union_id
    assert len(wechat.calls_to("/sns/userinfo")) == 1


async def test_snsapi_base_signs_in_with_the_openid_alone(
    anonymous: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(15)
    params = await authorize(anonymous)
    code = wechat.code_for(OA_APP_ID, user)
    response = await anonymous.get(
        CALLBACK, params={"appId": OA_APP_ID, "code": code, "state": params["state"]}
    )
    me = await me_with(client_for, token_in_fragment(response))
    assert me["unionId"] is None
    assert me["identities"][0]["openId"] == user.open_id(OA_APP_ID)
    assert wechat.calls_to("/sns/userinfo") == []


async def test_a_callback_without_the_state_cookie_is_forbidden(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    code = wechat.code_for(OA_APP_ID, person(16))
    response = await anonymous.get(
        CALLBACK, params={"appId": OA_APP_ID, "code": code, "state": "s"}
    )
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE"
    assert wechat.calls_to("/sns/oauth2/access_token") == []


async def test_a_callback_whose_state_differs_from_the_cookie_is_forbidden(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    params = await authorize(anonymous)
    code = wechat.code_for(OA_APP_ID, person(17))
    for state in (params["state"] + "x", "", params["state"][:-1]):
        await authorize(anonymous)  # the cookie is used up by each callback
        response = await anonymous.get(
            CALLBACK, params={"appId": OA_APP_ID, "code": code, "state": state}
        )
        refused(response, 403, "FORBIDDEN")
    assert wechat.calls_to("/sns/oauth2/access_token") == []


async def test_the_state_cookie_works_once(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    params = await authorize(anonymous)
    user = person(18)
    given = {"appId": OA_APP_ID, "state": params["state"]}
    first = await anonymous.get(
        CALLBACK, params={**given, "code": wechat.code_for(OA_APP_ID, user)}
    )
    token_in_fragment(first)
    again = await anonymous.get(
        CALLBACK, params={**given, "code": wechat.code_for(OA_APP_ID, user)}
    )
    refused(again, 403, "FORBIDDEN")


async def test_declined_authorisation_is_unauthenticated(anonymous: httpx.AsyncClient) -> None:
    params = await authorize(anonymous, USERINFO_APP_ID)
    response = await anonymous.get(
        CALLBACK, params={"appId": USERINFO_APP_ID, "state": params["state"]}
    )
    refused(response, 401, "UNAUTHENTICATED")


async def test_wechat_refusing_the_oauth_code_is_a_coded_error(
    anonymous: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    params = await authorize(anonymous)
    wechat.then("/sns/oauth2/access_token", {"errcode": 45011})
    response = await anonymous.get(
        CALLBACK, params={"appId": OA_APP_ID, "code": "0abc", "state": params["state"]}
    )
    refused(response, 429, "QUERY_TOO_COMPLEX")


async def test_the_callback_refuses_a_mini_program_app_id(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(
        CALLBACK, params={"appId": MINI_APP_ID, "code": "0a", "state": "s"}
    )
    refused(response, 400, "BAD_USER_INPUT")


# --- the rate limit -----------------------------------------------------------------------------


async def test_sign_in_attempts_over_the_rate_are_429_before_wechat_is_asked(
    settings: Settings, database: Database, wechat: FakeWechat
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 2})
    app = create_app(limited, database, KeyringSource.fixed(TEST_KEYRING))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
        codes = [wechat.code_for(MINI_APP_ID, person(n)) for n in range(3)]
        statuses = [(await mini_sign_in(client, code)).status_code for code in codes]
        assert statuses == [200, 200, 429]
        response = await mini_sign_in(client, codes[2])
        error = refused(response, 429, "QUERY_TOO_COMPLEX")
        assert error["extensions"]["limit"] == "rate"
        assert int(response.headers["retry-after"]) >= 1
        # The refused attempts never reached WeChat; the OAuth routes share the budget.
        assert len(wechat.calls_to("/sns/jscode2session")) == 2
        refused(await client.get(AUTHORIZE, params={"appId": OA_APP_ID}), 429, "QUERY_TOO_COMPLEX")
        params = {"appId": OA_APP_ID, "code": "c", "state": "s"}
        refused(await client.get(CALLBACK, params=params), 429, "QUERY_TOO_COMPLEX")


async def test_a_body_larger_than_the_limit_is_refused_whatever_its_declared_length(
    anonymous: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1024

    response = await anonymous.post(
        MINI, content=chunks(), headers={"content-type": "application/json"}
    )
    refused(response, 400, "BAD_USER_INPUT")
