"""Fixtures: one fake WeCom per test process on loopback, reset for every test, and settings
that point cdp's staff sign-in at it, with a role map by department and by tag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from tests.conftest import make_settings
from tests.staff_wecom.fake_wecom import AGENT_ID, CORP_ID, SECRET, FakeWecom

SUPPORT_DEPARTMENT = 12  # 客服部
COMPLIANCE_DEPARTMENT = 30  # 法务合规部
COMPLIANCE_TAG = "合规审批"
ANALYST_TAG = "数据分析"
ROLE_MAP = {
    "wecom_departments": {
        str(SUPPORT_DEPARTMENT): ["support"],
        str(COMPLIANCE_DEPARTMENT): ["compliance"],
    },
    "wecom_tags": {COMPLIANCE_TAG: ["compliance"], ANALYST_TAG: ["analyst"]},
}


def wecom_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings that point cdp at a fake WeCom at `base_url`: quick timeouts and backoff."""
    return {
        "staff_wecom": {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET},
        "staff_role_map": ROLE_MAP,
        "wecom_api_base_url": base_url,
        "wecom_authorize_url": f"{base_url}/connect/oauth2/authorize",
        "wecom_sso_url": f"{base_url}/wwlogin/sso/login",
        # Long enough for a loaded machine; the timeout tests' fake answers after 4 s.
        "wechat_timeout_seconds": 2.0,
        "wechat_busy_retries": 2,
        "wechat_backoff_seconds": 0.05,
        **overrides,
    }


@pytest.fixture(scope="session")
def fake_wecom_server() -> Iterator[FakeWecom]:
    fake = FakeWecom()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture
def wecom(fake_wecom_server: FakeWecom) -> FakeWecom:
    """The fake WeCom, with no members, codes, token, calls or scripts left from other tests."""
    fake_wecom_server.reset()
    return fake_wecom_server


@pytest.fixture
def settings(database_url: str, wecom: FakeWecom) -> Settings:
    """The suite's settings, with the brand's WeCom app served by the fake."""
    return make_settings(database_url, **wecom_config(wecom.base_url))


AUTHORIZE = "/auth/staff/wecom/authorize"
CALLBACK = "/auth/staff/wecom/callback"
IN_APP_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148 wxwork/4.1.26 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)


async def start(client: httpx.AsyncClient, *, in_app: bool = False) -> httpx.Response:
    """cdp's redirect to WeCom; the state cookie stays in `client`."""
    ua = IN_APP_UA if in_app else DESKTOP_UA
    response = await client.get(AUTHORIZE, headers={"user-agent": ua})
    assert response.status_code == 302, response.text
    return response


async def sign_in(
    client: httpx.AsyncClient, wecom: FakeWecom, userid: str | None, *, in_app: bool = False
) -> httpx.Response:
    """The whole flow as a browser follows it: cdp's authorize, WeCom's page (over real HTTP,
    signed in as `userid`), and cdp's callback with the code WeCom gave."""
    wecom.browser_user = userid
    location = (await start(client, in_app=in_app)).headers["location"]
    async with httpx.AsyncClient() as browser:  # the fake WeCom, on loopback
        page = await browser.get(location)
    assert page.status_code == 302, page.text
    back = urlsplit(page.headers["location"])
    assert (back.scheme, back.netloc, back.path) == ("http", "cdp.test", CALLBACK)
    return await client.get(f"{back.path}?{back.query}")


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one coded error of a refused sign-in."""
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    assert response.headers["cache-control"] == "no-store"
    return error  # type: ignore[no-any-return]
