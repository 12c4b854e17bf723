"""The WeChat client against the fake WeChat: answers, each errcode's outcome, retries with
backoff, timeouts; and the WeChat settings."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from cdp.config import ConfigError, Settings, load_settings
from cdp.config_models import OAuthScope, WechatAppType
from cdp.devwechat.fake import (
    MINI_APP_ID,
    OA_APP_ID,
    USERINFO_APP_ID,
    FakeWechat,
    WechatUser,
)
from cdp.wechat.client import WechatClient, WechatError, WechatFailure
from cdp.wechat.signin import customer_token, session_ttl
from tests.conftest import TEST_JWT_SECRET
from tests.wechat.conftest import wechat_config

CODE2SESSION = "/sns/jscode2session"
ACCESS_TOKEN = "/sns/oauth2/access_token"


def client_settings(wechat: FakeWechat, **overrides: Any) -> Settings:
    return load_settings(
        {}, jwt_secret=TEST_JWT_SECRET, **wechat_config(wechat.base_url, **overrides)
    )


@pytest.fixture
async def client(wechat: FakeWechat) -> AsyncIterator[WechatClient]:
    wechat_client = WechatClient(client_settings(wechat))
    yield wechat_client
    await wechat_client.aclose()


async def code2session(client: WechatClient, code: str) -> Any:
    app = client.settings.wechat_apps[MINI_APP_ID]
    return await client.code2session(app_id=MINI_APP_ID, app=app, code=code)


async def test_code2session_gives_the_openid_unionid_and_a_hidden_session_key(
    client: WechatClient, wechat: FakeWechat
) -> None:
    user = WechatUser(union_id="oUnIoNclient0000000000000001")
    found = await code2session(client, wechat.code_for(MINI_APP_ID, user))
    assert found.open_id == user.open_id(MINI_APP_ID)
    assert found.union_id == user.union_id
    assert found.session_key.get_secret_value() == wechat.session_keys[0]
    assert wechat.session_keys[0] not in repr(found)
    (_at, params) = wechat.calls_to(CODE2SESSION)[0]
    assert params["grant_type"] == "authorization_code" and params["appid"] == MINI_APP_ID


async def test_a_person_without_a_unionid_signs_in_with_the_openid_alone(
    client: WechatClient, wechat: FakeWechat
) -> None:
    found = await code2session(client, wechat.code_for(MINI_APP_ID, WechatUser(union_id=None)))
    assert found.union_id is None and found.open_id.startswith("o")


@pytest.mark.parametrize(
    ("errcode", "failure"),
    [
        (40029, WechatFailure.CODE_INVALID),
        (40163, WechatFailure.CODE_USED),
        (45011, WechatFailure.RATE_LIMITED),
        (40226, WechatFailure.RISKY_USER),
        (40125, WechatFailure.UPSTREAM),
        (40013, WechatFailure.UPSTREAM),
        (99999, WechatFailure.UPSTREAM),
    ],
)
async def test_each_wechat_errcode_becomes_its_outcome_without_a_retry(
    client: WechatClient, wechat: FakeWechat, errcode: int, failure: WechatFailure
) -> None:
    wechat.then(CODE2SESSION, {"errcode": errcode})
    with pytest.raises(WechatError) as raised:
        await code2session(client, "0a1b2c3d")
    assert raised.value.failure is failure and raised.value.errcode == errcode
    assert len(wechat.calls_to(CODE2SESSION)) == 1


async def test_a_code_works_once_and_then_is_used(client: WechatClient, wechat: FakeWechat) -> None:
    code = wechat.code_for(MINI_APP_ID, WechatUser(union_id=None))
    await code2session(client, code)
    with pytest.raises(WechatError) as raised:
        await code2session(client, code)
    assert raised.value.failure is WechatFailure.CODE_USED


async def test_system_busy_is_retried_with_doubling_backoff_then_succeeds(
    client: WechatClient, wechat: FakeWechat
) -> None:
    wechat.then(CODE2SESSION, {"errcode": -1}, {"errcode": -1})
    found = await code2session(client, wechat.code_for(MINI_APP_ID, WechatUser(union_id=None)))
    assert found.open_id
    times = [at for at, _params in wechat.calls_to(CODE2SESSION)]
    assert len(times) == 3
    backoff = client.settings.wechat_backoff_seconds
    assert times[1] - times[0] >= backoff * 0.9
    assert times[2] - times[1] >= 2 * backoff * 0.9


async def test_system_busy_on_every_try_gives_up_after_the_configured_retries(
    client: WechatClient, wechat: FakeWechat
) -> None:
    wechat.then(CODE2SESSION, *[{"errcode": -1}] * 10)
    started = time.monotonic()
    with pytest.raises(WechatError) as raised:
        await code2session(client, "0a1b2c3d")
    assert raised.value.failure is WechatFailure.BUSY
    assert len(wechat.calls_to(CODE2SESSION)) == client.settings.wechat_busy_retries + 1 == 3
    assert time.monotonic() - started < 2  # 0.05 s + 0.1 s of backoff, not unbounded


async def test_an_error_page_from_wechat_counts_as_busy_and_is_retried(
    client: WechatClient, wechat: FakeWechat
) -> None:
    wechat.then(CODE2SESSION, {"status": 502})
    found = await code2session(client, wechat.code_for(MINI_APP_ID, WechatUser(union_id=None)))
    assert found.open_id and len(wechat.calls_to(CODE2SESSION)) == 2


async def test_an_answer_that_is_not_json_is_an_upstream_failure(
    client: WechatClient, wechat: FakeWechat
) -> None:
    wechat.then(CODE2SESSION, {"garbage": True})
    with pytest.raises(WechatError) as raised:
        await code2session(client, "0a1b2c3d")
    assert raised.value.failure is WechatFailure.UPSTREAM


async def test_a_slow_wechat_times_out_once_without_a_retry(
    client: WechatClient, wechat: FakeWechat
) -> None:
    wechat.then(CODE2SESSION, {"delay": 4.0})
    started = time.monotonic()
    with pytest.raises(WechatError) as raised:
        await code2session(client, wechat.code_for(MINI_APP_ID, WechatUser(union_id=None)))
    assert raised.value.failure is WechatFailure.TIMEOUT
    assert time.monotonic() - started < 3.5  # the 2 s timeout, not the 4 s answer
    # WeChat may have used the code before it got slow: a retry could only fail as 40163.
    assert len(wechat.calls_to(CODE2SESSION)) == 1


async def test_an_unreachable_wechat_is_busy_after_the_retries(wechat: FakeWechat) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = WechatClient(client_settings(wechat, wechat_api_base_url=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(WechatError) as raised:
            await code2session(client, "0a1b2c3d")
    finally:
        await client.aclose()
    assert raised.value.failure is WechatFailure.BUSY


async def test_oauth_base_grant_gives_the_openid_and_no_unionid(
    client: WechatClient, wechat: FakeWechat
) -> None:
    user = WechatUser(union_id="oUnIoNclient0000000000000002")
    app = client.settings.wechat_apps[OA_APP_ID]
    grant = await client.oauth_grant(
        app_id=OA_APP_ID, app=app, code=wechat.code_for(OA_APP_ID, user)
    )
    assert grant.open_id == user.open_id(OA_APP_ID)
    assert grant.union_id is None and grant.scope == "snsapi_base"
    assert grant.access_token.get_secret_value() not in repr(grant)


async def test_user_info_gives_the_unionid_of_a_userinfo_grant(
    client: WechatClient, wechat: FakeWechat
) -> None:
    user = WechatUser(union_id="oUnIoNclient0000000000000003")
    app = client.settings.wechat_apps[USERINFO_APP_ID]
    code = wechat.code_for(USERINFO_APP_ID, user, scope="snsapi_userinfo", union_in_token=False)
    grant = await client.oauth_grant(app_id=USERINFO_APP_ID, app=app, code=code)
    assert grant.union_id is None
    assert await client.userinfo_union_id(grant) == user.union_id
    (_at, params) = wechat.calls_to("/sns/userinfo")[0]
    assert params["lang"] == "zh_CN" and params["openid"] == grant.open_id


# --- settings ------------------------------------------------------------------------------------

APPS_JSON = json.dumps(
    {
        MINI_APP_ID: {"type": "MINI_PROGRAM", "secret": "0" * 32},
        OA_APP_ID: {
            "type": "OFFICIAL_ACCOUNT",
            "secret": "1" * 32,
            "oauth_scope": "snsapi_userinfo",
        },
    }
)
PRODUCTION = {"CDP_ENV": "production", "CDP_JWT_SECRET": "wechat-" + TEST_JWT_SECRET}
REDIRECT = {"CDP_WECHAT_REDIRECT_BASE_URL": "https://crm.example.cn"}


def test_wechat_apps_are_read_as_json_from_the_environment() -> None:
    settings = load_settings({"CDP_WECHAT_APPS": APPS_JSON, "CDP_WECHAT_BUSY_RETRIES": "3"})
    assert settings.wechat_apps[MINI_APP_ID].type is WechatAppType.MINI_PROGRAM
    assert settings.wechat_apps[OA_APP_ID].oauth_scope is OAuthScope.USERINFO
    assert settings.wechat_busy_retries == 3
    assert settings.customer_session_ttl_seconds == 7200
    assert settings.wechat_api_base_url == "https://api.weixin.qq.com"


def test_wechat_secrets_never_show_in_the_settings_repr() -> None:
    settings = load_settings({"CDP_WECHAT_APPS": APPS_JSON})
    assert "0" * 32 not in repr(settings) and "1" * 32 not in str(settings.wechat_apps)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CDP_WECHAT_APPS": "{not json"}, "CDP_WECHAT_APPS: not valid JSON"),
        ({"CDP_CONTACT_CAPS": "[oops"}, "CDP_CONTACT_CAPS: not valid JSON"),
        ({"CDP_WECHAT_APPS": '{"wx1": {"type": "MINI_PROGRAM", "secret": "s"}}'}, "AppID"),
        (
            {"CDP_WECHAT_APPS": json.dumps({MINI_APP_ID: {"type": "APP", "secret": "s"}})},
            "CDP_WECHAT_APPS",
        ),
        ({"CDP_WECHAT_API_BASE_URL": "api.weixin.qq.com"}, "CDP_WECHAT_API_BASE_URL"),
        ({"CDP_WECHAT_BUSY_RETRIES": "50"}, "CDP_WECHAT_BUSY_RETRIES"),
    ],
)
def test_unfit_wechat_configuration_stops_start_up_with_one_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "environ",
    [
        {"CDP_WECHAT_APPS": json.dumps({MINI_APP_ID: {"type": "MINI_PROGRAM", "secret": "x"}})},
        {"CDP_WECHAT_API_BASE_URL": "http://api.weixin.qq.com"},
        {"CDP_WECHAT_REDIRECT_BASE_URL": "http://crm.example.cn"},
        {"CDP_WECHAT_APPS": APPS_JSON},  # official accounts need the redirect base URL
    ],
)
def test_production_refuses_placeholder_secrets_and_plain_http(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings({**PRODUCTION, **environ})
    # Real-looking values pass.
    load_settings({**PRODUCTION, "CDP_WECHAT_APPS": APPS_JSON, **REDIRECT})


def test_the_customer_session_never_outlives_the_token_maximum() -> None:
    capped = load_settings({"CDP_JWT_SECRET": TEST_JWT_SECRET, "CDP_MAX_TOKEN_TTL_SECONDS": "600"})
    token = customer_token(capped, "a-profile-id")
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600 == session_ttl(capped)
