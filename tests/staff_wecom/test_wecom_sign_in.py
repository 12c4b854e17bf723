"""Staff sign-in with WeCom, on both databases: the redirect inside the WeCom app and on a
desktop browser, a session on /console/ for the member, roles from departments and tags, and
the refusals (unmapped, outside the corp, declined, state mismatch, not configured), audited
under the member's userid."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.staff.models import StaffSession
from cdp.staff.sessions import hash_secret
from tests.conftest import TEST_KEYRING, ClientFactory, gql, make_settings
from tests.staff_wecom.conftest import (
    ANALYST_TAG,
    AUTHORIZE,
    CALLBACK,
    COMPLIANCE_DEPARTMENT,
    COMPLIANCE_TAG,
    SUPPORT_DEPARTMENT,
    refused,
    sign_in,
    start,
)
from tests.staff_wecom.fake_wecom import AGENT_ID, CORP_ID, FakeWecom

SIGN_INS = """query { auditEvents(first: 50, action: STAFF_SIGN_IN) {
  items { actorSubject outcome detail } } }"""


@pytest.fixture
def browser(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def session_rows(database: Database, userid: str) -> list[StaffSession]:
    async with database.transaction() as session:
        query = sa.select(StaffSession).where(StaffSession.directory_id == userid)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def sign_in_records(client_for: ClientFactory) -> list[dict[str, Any]]:
    body = await gql(client_for(Role.COMPLIANCE), SIGN_INS)
    return body["data"]["auditEvents"]["items"]  # type: ignore[no-any-return]


async def test_inside_the_wecom_app_authorize_redirects_to_web_authorisation(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    response = await start(browser, in_app=True)
    location = response.headers["location"]
    assert location.startswith(f"{wecom.base_url}/connect/oauth2/authorize?")
    assert location.endswith("#wechat_redirect")
    params = query_of(location.removesuffix("#wechat_redirect"))
    assert params == {
        "appid": CORP_ID,
        "redirect_uri": f"http://cdp.test{CALLBACK}",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": browser.cookies["cdp_staff_state"],
        "agentid": AGENT_ID,
    }
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and f"path={CALLBACK}" in cookie


async def test_on_a_desktop_browser_authorize_redirects_to_the_qr_sign_in_page(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    location = (await start(browser)).headers["location"]
    assert location.startswith(f"{wecom.base_url}/wwlogin/sso/login?")
    assert "#" not in location
    assert query_of(location) == {
        "login_type": "CorpApp",
        "appid": CORP_ID,
        "agentid": AGENT_ID,
        "redirect_uri": f"http://cdp.test{CALLBACK}",
        "state": browser.cookies["cdp_staff_state"],
    }


async def test_the_redirect_goes_to_the_configured_base_url(
    database_url: str, wecom: FakeWecom, database: Database
) -> None:
    from tests.staff_wecom.conftest import wecom_config

    settings = make_settings(
        database_url,
        **wecom_config(wecom.base_url, staff_redirect_base_url="https://cdp.brand.example"),
    )
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8000"
    ) as client:
        response = await client.get(AUTHORIZE)
    params = query_of(response.headers["location"])
    assert params["redirect_uri"] == f"https://cdp.brand.example{CALLBACK}"
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("in_app", [True, False], ids=["in-app", "desktop-qr"])
async def test_a_mapped_member_lands_on_the_console_with_a_session(
    browser: httpx.AsyncClient, wecom: FakeWecom, database: Database, in_app: bool
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    response = await sign_in(browser, wecom, "zhangwei", in_app=in_app)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"
    token = browser.cookies["cdp_staff"]
    set_cookie = response.headers.get_list("set-cookie")
    assert any("cdp_staff=" in c and "httponly" in c.lower() for c in set_cookie)
    assert any("cdp_staff_state=" in c and "max-age=0" in c.lower() for c in set_cookie)
    [row] = await session_rows(database, "zhangwei")
    assert (row.provider.value, row.roles, row.role) == ("wecom", "support", "support")
    assert row.token_hash == hash_secret(token) and row.provider_grant is None


async def test_a_tag_gives_a_role_and_several_roles_wait_for_a_choice(
    browser: httpx.AsyncClient, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("lina", SUPPORT_DEPARTMENT, 7)
    wecom.tag(COMPLIANCE_TAG, "lina")
    wecom.tag("年会筹备组", "lina")  # a tag the role map does not name: never read
    response = await sign_in(browser, wecom, "lina")
    assert response.status_code == 303, response.text
    [row] = await session_rows(database, "lina")
    assert row.roles == "support,compliance" and row.role is None
    asked = [params["tagid"] for params in wecom.calls_to("/cgi-bin/tag/get")]
    assert asked == ["1"]


async def test_a_tag_given_to_a_department_reaches_its_members(
    browser: httpx.AsyncClient, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("chenjing", 41)
    wecom.tag(ANALYST_TAG, departments=(41,))
    assert (await sign_in(browser, wecom, "chenjing")).status_code == 303
    [row] = await session_rows(database, "chenjing")
    assert row.roles == "analyst" and row.role == "analyst"


async def test_a_department_alone_gives_its_role_without_asking_for_tags_it_lacks(
    browser: httpx.AsyncClient, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("wangfang", COMPLIANCE_DEPARTMENT)
    assert (await sign_in(browser, wecom, "wangfang", in_app=True)).status_code == 303
    [row] = await session_rows(database, "wangfang")
    assert row.roles == "compliance"
    assert len(wecom.calls_to("/cgi-bin/tag/list")) == 1
    assert wecom.calls_to("/cgi-bin/tag/get") == []  # the corp has no tag the map names


async def test_an_unmapped_member_is_refused_and_the_refusal_names_their_userid(
    browser: httpx.AsyncClient, client_for: ClientFactory, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("liuyang", 99)
    error = refused(await sign_in(browser, wecom, "liuyang"), 403, "FORBIDDEN")
    assert error["extensions"]["reason"] == "UNMAPPED"
    assert await session_rows(database, "liuyang") == []
    assert "cdp_staff" not in browser.cookies
    records = await sign_in_records(client_for)
    assert [(r["actorSubject"], r["outcome"]) for r in records] == [("wecom:liuyang", "FORBIDDEN")]
    assert records[0]["detail"]["provider"] == "wecom"
    assert "王小明" not in str(records) and "13800138000" not in str(records)


async def test_a_sign_in_is_audited_under_the_userid_without_name_or_mobile(
    browser: httpx.AsyncClient, client_for: ClientFactory, wecom: FakeWecom
) -> None:
    wecom.add("zhaolei", SUPPORT_DEPARTMENT)
    assert (await sign_in(browser, wecom, "zhaolei")).status_code == 303
    [record] = await sign_in_records(client_for)
    assert record["actorSubject"] == "wecom:zhaolei" and record["outcome"] == "OK"
    assert record["detail"]["roles"] == ["support"]
    assert "王小明" not in str(record) and "13800138000" not in str(record)


async def test_someone_outside_the_corp_is_refused(
    browser: httpx.AsyncClient, client_for: ClientFactory, wecom: FakeWecom
) -> None:
    code = wecom.code_for(None)  # getuserinfo answers an openid, no userid
    await start(browser)
    state = browser.cookies["cdp_staff_state"]
    response = await browser.get(CALLBACK, params={"code": code, "state": state})
    error = refused(response, 403, "FORBIDDEN")
    assert error["extensions"]["reason"] == "WECOM_NOT_A_MEMBER"
    assert wecom.calls_to("/cgi-bin/user/get") == []
    [record] = await sign_in_records(client_for)
    assert (record["actorSubject"], record["outcome"]) == ("wecom:?", "FORBIDDEN")


async def test_a_declined_qr_sign_in_is_unauthenticated(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    error = refused(await sign_in(browser, wecom, None), 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "DECLINED"
    assert wecom.calls_to("/cgi-bin/auth/getuserinfo") == []


async def test_a_callback_whose_state_is_not_this_browsers_is_refused(
    browser: httpx.AsyncClient, client_for: ClientFactory, wecom: FakeWecom
) -> None:
    wecom.add("sunli", SUPPORT_DEPARTMENT)
    await start(browser)
    state = browser.cookies["cdp_staff_state"]
    # The attacker's own sign-in link, opened in the victim's browser (a login CSRF).
    other = client_for(None)
    response = await other.get(CALLBACK, params={"code": wecom.code_for("sunli"), "state": state})
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE"
    # A state that differs from the cookie, and a cookie-less callback.
    response = await browser.get(CALLBACK, params={"code": wecom.code_for("sunli"), "state": "x"})
    assert refused(response, 403, "FORBIDDEN")["extensions"]["reason"] == "STATE"
    assert wecom.calls_to("/cgi-bin/auth/getuserinfo") == []


async def test_a_state_works_once(browser: httpx.AsyncClient, wecom: FakeWecom) -> None:
    wecom.add("zhoujie", SUPPORT_DEPARTMENT)
    await start(browser)
    state = browser.cookies["cdp_staff_state"]
    first = await browser.get(CALLBACK, params={"code": wecom.code_for("zhoujie"), "state": state})
    assert first.status_code == 303
    browser.cookies.set("cdp_staff_state", state, domain="cdp.test", path=CALLBACK)
    again = await browser.get(CALLBACK, params={"code": wecom.code_for("zhoujie"), "state": state})
    refused(again, 403, "FORBIDDEN")


@pytest.mark.parametrize("code", ["x" * 513, "换行", "a\nb"])
async def test_a_code_that_is_no_wecom_code_is_bad_user_input(
    browser: httpx.AsyncClient, wecom: FakeWecom, code: str
) -> None:
    await start(browser)
    state = browser.cookies["cdp_staff_state"]
    response = await browser.get(CALLBACK, params={"code": code, "state": state})
    assert refused(response, 400, "BAD_USER_INPUT")["extensions"]["field"] == "code"
    assert wecom.calls == []


async def test_without_wecom_configured_both_routes_are_not_found(
    database_url: str, database: Database
) -> None:
    app = create_app(make_settings(database_url), database, KeyringSource.fixed(TEST_KEYRING))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdp.test"
    ) as client:
        for path in (AUTHORIZE, CALLBACK):
            error = refused(await client.get(path), 404, "NOT_FOUND")
            assert error["extensions"]["reason"] == "NOT_CONFIGURED"


async def test_a_browser_is_shown_a_readable_refusal_page(
    browser: httpx.AsyncClient, wecom: FakeWecom, settings: Settings
) -> None:
    wecom.add("heping", 99)
    wecom.browser_user = "heping"
    location = (await start(browser)).headers["location"]
    async with httpx.AsyncClient() as real:
        back = urlsplit((await real.get(location)).headers["location"])
    response = await browser.get(f"{back.path}?{back.query}", headers={"accept": "text/html"})
    assert response.status_code == 403
    assert "登录失败" in response.text and "UNMAPPED" in response.text
