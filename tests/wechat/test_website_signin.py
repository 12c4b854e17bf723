"""Website sign-in by WeChat QR (qrconnect, snsapi_login), on both databases: the redirect and
its signed state, one profile with the mini-program person by UnionID, WeChat's refusals as
coded errors, and the attacks: a forged, expired, replayed or other browser's state, a reused
code, an app that is not a website app."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from cdp.config import Settings
from cdp.devwechat.fake import (
    MINI_APP_ID,
    OA_APP_ID,
    WEBSITE_APP_ID,
    FakeWechat,
    WechatUser,
)
from cdp.wechat.website_state import issue_state
from tests.conftest import ClientFactory
from tests.support.wechat_signin import me_with, mini_sign_in, refused

AUTHORIZE = "/auth/wechat/website/authorize"
CALLBACK = "/auth/wechat/website/callback"
COOKIE = "cdp_wechat_web_state"
TOKEN_PATH = "/sns/oauth2/access_token"


def person(n: int) -> WechatUser:
    return WechatUser(union_id=f"oUnIoNwebsite{n:015d}")


@pytest.fixture
def browser(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


async def begin(browser: httpx.AsyncClient, app_id: str = WEBSITE_APP_ID) -> dict[str, str]:
    """The redirect to WeChat's QR page, as query parameters; the state cookie is kept."""
    response = await browser.get(AUTHORIZE, params={"appId": app_id})
    assert response.status_code == 302, response.text
    location = response.headers["location"].removesuffix("#wechat_redirect")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def back(browser: httpx.AsyncClient, code: str | None, state: str) -> httpx.Response:
    params = {"appId": WEBSITE_APP_ID, "state": state}
    if code is not None:
        params["code"] = code
    return await browser.get(CALLBACK, params=params)


def session_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert (location.path, location.query) == ("/h5/", "from=website")
    assert "token" not in location.query
    return {k: v[0] for k, v in parse_qs(location.fragment).items()}


def login_code(wechat: FakeWechat, user: WechatUser, **options: Any) -> str:
    return wechat.code_for(WEBSITE_APP_ID, user, scope="snsapi_login", **options)


async def test_authorize_redirects_to_the_qr_page_with_snsapi_login_and_a_signed_state(
    browser: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    response = await browser.get(AUTHORIZE, params={"appId": WEBSITE_APP_ID})
    assert response.status_code == 302 and response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(f"{wechat.base_url}/connect/qrconnect?")
    assert location.endswith("#wechat_redirect")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and CALLBACK in cookie
    params = await begin(browser)
    assert params["appid"] == WEBSITE_APP_ID and params["response_type"] == "code"
    assert params["scope"] == "snsapi_login"
    assert params["redirect_uri"] == f"http://cdp.test{CALLBACK}?appId={WEBSITE_APP_ID}"
    assert params["state"] == browser.cookies[COOKIE] and len(params["state"]) <= 128
    assert params["state"] != (await begin(browser))["state"]


async def test_the_qr_sign_in_is_the_mini_program_person_on_the_web_channel(
    browser: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    user = person(1)
    mini = await mini_sign_in(browser, wechat.code_for(MINI_APP_ID, user))
    # The browser at WeChat's QR page, the person scanning it: back with code and state.
    wechat.browser_user = user
    response = await browser.get(AUTHORIZE, params={"appId": WEBSITE_APP_ID})
    async with httpx.AsyncClient() as at_wechat:
        scanned = await at_wechat.get(response.headers["location"].split("#")[0])
    assert scanned.status_code == 302
    callback = urlsplit(scanned.headers["location"])
    assert callback.path == CALLBACK
    session = session_of(await browser.get(f"{CALLBACK}?{callback.query}"))
    assert session["profileId"] == mini.json()["profileId"]
    me = await me_with(client_for, session["token"])
    assert me["unionId"] == user.union_id
    assert {"channel": "WEB", "appId": WEBSITE_APP_ID, "openId": user.open_id(WEBSITE_APP_ID)} in (
        me["identities"]
    )
    assert COOKIE not in browser.cookies  # one use, whatever came of it
    assert wechat.calls_to("/sns/userinfo") == []  # the UnionID came with the token


async def test_the_unionid_is_asked_of_userinfo_when_the_token_lacks_it(
    browser: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    user = person(2)
    mini = await mini_sign_in(browser, wechat.code_for(MINI_APP_ID, user))
    state = (await begin(browser))["state"]
    session = session_of(await back(browser, login_code(wechat, user, union_in_token=False), state))
    assert session["profileId"] == mini.json()["profileId"]
    assert len(wechat.calls_to("/sns/userinfo")) == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"), id="bad-mac"),
        pytest.param(
            lambda s: s.replace(s.split(".")[1], str(int(s.split(".")[1]) + 600)), id="later-expiry"
        ),
        pytest.param(lambda s: "0123456789abcdef", id="made-up"),
        pytest.param(lambda s: s + "." + s, id="too-many-parts"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: "x" * 500, id="too-long"),
    ],
)
async def test_a_forged_state_is_refused_before_wechat_is_asked(
    browser: httpx.AsyncClient, wechat: FakeWechat, forge: Any
) -> None:
    forged = forge((await begin(browser))["state"])
    browser.cookies.set(COOKIE, forged or "x")
    response = await back(browser, login_code(wechat, person(3)), forged)
    error = refused(response, 403, "FORBIDDEN")
    assert error["extensions"]["reason"] == "STATE_FORGED"
    assert wechat.calls_to(TOKEN_PATH) == []


async def test_a_state_signed_for_another_app_or_with_another_secret_is_forged(
    browser: httpx.AsyncClient, wechat: FakeWechat, settings: Settings
) -> None:
    others = (
        issue_state(settings, app_id=OA_APP_ID),
        issue_state(
            settings.model_copy(update={"jwt_secret": SecretStr("another" * 8)}),
            app_id=WEBSITE_APP_ID,
        ),
    )
    for state in others:
        browser.cookies.set(COOKIE, state)
        response = await back(browser, login_code(wechat, person(4)), state)
        assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE_FORGED"
    assert wechat.calls_to(TOKEN_PATH) == []


async def test_an_expired_state_is_refused(
    browser: httpx.AsyncClient, wechat: FakeWechat, settings: Settings
) -> None:
    state = issue_state(settings, app_id=WEBSITE_APP_ID, now=time.time() - 301)
    browser.cookies.set(COOKIE, state)
    response = await back(browser, login_code(wechat, person(5)), state)
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE_EXPIRED"


async def test_a_state_from_another_browser_is_refused(
    browser: httpx.AsyncClient, client_for: ClientFactory, wechat: FakeWechat
) -> None:
    # A login CSRF: the attacker's own state and code, sent to the victim's browser.
    state = (await begin(browser))["state"]
    victim = client_for(None)
    response = await back(victim, login_code(wechat, person(6)), state)
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE_MISMATCH"
    assert wechat.calls_to(TOKEN_PATH) == []


async def test_a_replayed_state_is_refused(browser: httpx.AsyncClient, wechat: FakeWechat) -> None:
    user = person(7)
    state = (await begin(browser))["state"]
    session_of(await back(browser, login_code(wechat, user), state))
    browser.cookies.set(COOKIE, state)  # as a replaying client would
    response = await back(browser, login_code(wechat, user), state)
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE_REPLAYED"
    assert len(wechat.calls_to(TOKEN_PATH)) == 1


async def test_a_state_is_spent_even_when_the_sign_in_fails(
    browser: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    state = (await begin(browser))["state"]
    refused(await back(browser, "0nobodys-code", state), 401, "UNAUTHENTICATED")
    browser.cookies.set(COOKIE, state)
    response = await back(browser, login_code(wechat, person(8)), state)
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE_REPLAYED"


async def test_a_reused_code_is_unauthenticated(
    browser: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    code = login_code(wechat, person(9))
    session_of(await back(browser, code, (await begin(browser))["state"]))
    response = await back(browser, code, (await begin(browser))["state"])
    error = refused(response, 401, "UNAUTHENTICATED")
    assert (error["extensions"]["reason"], error["extensions"]["errcode"]) == (
        "WECHAT_CODE_USED",
        40163,
    )


@pytest.mark.parametrize(
    ("answers", "status", "code", "reason"),
    [
        ([{"errcode": 40029}], 401, "UNAUTHENTICATED", "WECHAT_CODE_INVALID"),
        ([{"errcode": 40163}], 401, "UNAUTHENTICATED", "WECHAT_CODE_USED"),
        ([{"errcode": -1}] * 3, 503, "INTERNAL", "WECHAT_BUSY"),
        ([{"delay": 4.0}], 503, "INTERNAL", "WECHAT_TIMEOUT"),
    ],
)
async def test_each_wechat_refusal_is_a_coded_error(
    browser: httpx.AsyncClient,
    wechat: FakeWechat,
    answers: list[dict[str, Any]],
    status: int,
    code: str,
    reason: str,
) -> None:
    wechat.then(TOKEN_PATH, *answers)
    state = (await begin(browser))["state"]
    response = await back(browser, login_code(wechat, person(10)), state)
    assert refused(response, status, code)["extensions"]["reason"] == reason
    if status == 503:
        assert response.headers["retry-after"]


async def test_a_declined_qr_sign_in_is_unauthenticated(
    browser: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    response = await back(browser, None, (await begin(browser))["state"])
    refused(response, 401, "UNAUTHENTICATED")
    assert wechat.calls_to(TOKEN_PATH) == []


@pytest.mark.parametrize("app_id", [OA_APP_ID, MINI_APP_ID, "wx0000000000000000", ""])
async def test_an_app_that_is_not_a_website_app_is_refused(
    browser: httpx.AsyncClient, wechat: FakeWechat, settings: Settings, app_id: str
) -> None:
    refused(await browser.get(AUTHORIZE, params={"appId": app_id}), 400, "BAD_USER_INPUT")
    state = issue_state(settings, app_id=app_id)
    browser.cookies.set(COOKIE, state)
    code = wechat.code_for(app_id or OA_APP_ID, person(11))
    response = await browser.get(CALLBACK, params={"appId": app_id, "code": code, "state": state})
    refused(response, 400, "BAD_USER_INPUT")
    assert wechat.calls_to(TOKEN_PATH) == []


async def test_wechats_qr_page_refuses_a_scope_other_than_snsapi_login(
    wechat: FakeWechat,
) -> None:
    wechat.browser_user = person(12)
    async with httpx.AsyncClient(base_url=wechat.base_url) as at_wechat:
        params = {"appid": WEBSITE_APP_ID, "scope": "snsapi_base", "redirect_uri": "http://x/"}
        assert (await at_wechat.get("/connect/qrconnect", params=params)).status_code == 400
