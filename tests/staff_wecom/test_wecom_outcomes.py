"""What WeCom's refusals and failures look like to a signing-in browser: each errcode a coded
error with its reason, "system busy" retried with bounded doubling backoff, a timeout 503 with
Retry-After, an unusable answer 502, never a 500; and no secret, code, token, name or mobile
in any log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.staff_wecom.conftest import COMPLIANCE_TAG, SUPPORT_DEPARTMENT, refused, sign_in
from tests.staff_wecom.fake_wecom import SECRET, FakeWecom

GETUSERINFO = "/cgi-bin/auth/getuserinfo"
USER_GET = "/cgi-bin/user/get"


@pytest.fixture
def browser(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


@pytest.mark.parametrize(
    ("path", "errcode", "status", "code", "reason"),
    [
        (GETUSERINFO, 40029, 401, "UNAUTHENTICATED", "WECOM_CODE_INVALID"),
        (USER_GET, 60111, 403, "FORBIDDEN", "WECOM_USER_NOT_FOUND"),
        (USER_GET, 60011, 403, "FORBIDDEN", "WECOM_NOT_VISIBLE"),
        (GETUSERINFO, 45009, 429, "QUERY_TOO_COMPLEX", "WECOM_RATE_LIMITED"),
        (USER_GET, 45033, 429, "QUERY_TOO_COMPLEX", "WECOM_RATE_LIMITED"),
        (GETUSERINFO, 50001, 502, "INTERNAL", "WECOM_UPSTREAM"),
        (USER_GET, 60020, 502, "INTERNAL", "WECOM_UPSTREAM"),
        ("/cgi-bin/gettoken", 40001, 502, "INTERNAL", "WECOM_UPSTREAM"),
    ],
)
async def test_each_wecom_refusal_is_a_coded_error_with_its_reason(
    browser: httpx.AsyncClient,
    wecom: FakeWecom,
    path: str,
    errcode: int,
    status: int,
    code: str,
    reason: str,
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    wecom.then(path, {"errcode": errcode})
    response = await sign_in(browser, wecom, "zhangwei")
    error = refused(response, status, code)
    assert error["extensions"]["reason"] == reason and error["extensions"]["errcode"] == errcode
    if status == 429:
        assert response.headers["retry-after"] == "60"
    assert "cdp_staff" not in browser.cookies


async def test_a_code_used_twice_is_unauthenticated(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    wecom.add("lina", SUPPORT_DEPARTMENT)
    code = wecom.code_for("lina")
    for expected in (303, 401):
        await sign_in(browser, wecom, "lina")  # a fresh state cookie ...
        state = browser.cookies.get("cdp_staff_state")
        if state is None:  # ... used by that sign-in: start one more
            location = (await browser.get("/auth/staff/wecom/authorize")).headers["location"]
            state = httpx.URL(location).params["state"]
        response = await browser.get(
            "/auth/staff/wecom/callback", params={"code": code, "state": state}
        )
        assert response.status_code == expected, response.text
    assert refused(response, 401, "UNAUTHENTICATED")["extensions"]["errcode"] == 40029


async def test_a_disabled_member_is_forbidden(browser: httpx.AsyncClient, wecom: FakeWecom) -> None:
    for status in (2, 4, 5):  # disabled, not yet activated, left the corp
        wecom.add(f"user{status}", SUPPORT_DEPARTMENT, status=status)
        error = refused(await sign_in(browser, wecom, f"user{status}"), 403, "FORBIDDEN")
        assert error["extensions"]["reason"] == "WECOM_USER_DISABLED"


async def test_system_busy_then_success_signs_in(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    wecom.add("chenjing", SUPPORT_DEPARTMENT)
    wecom.then(GETUSERINFO, {"errcode": -1}, {"status": 502})
    response = await sign_in(browser, wecom, "chenjing")
    assert response.status_code == 303, response.text
    calls = [at for p, at, _ in wecom.calls if p == GETUSERINFO]
    assert len(calls) == 3
    # Doubling backoff (0.05 s, then 0.1 s) between the tries.
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.1


async def test_system_busy_on_every_try_is_503_with_retry_after(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    wecom.add("wangfang", SUPPORT_DEPARTMENT)
    wecom.then(USER_GET, *[{"errcode": -1}] * 5)
    response = await sign_in(browser, wecom, "wangfang")
    error = refused(response, 503, "INTERNAL")
    assert error["extensions"]["reason"] == "WECOM_BUSY" and response.headers["retry-after"] == "5"
    assert len(wecom.calls_to(USER_GET)) == 3  # one try and wechat_busy_retries more


async def test_a_wecom_timeout_is_503_with_retry_after(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    wecom.add("zhaolei", SUPPORT_DEPARTMENT)
    wecom.then(GETUSERINFO, {"delay": 4.0})
    response = await sign_in(browser, wecom, "zhaolei")
    error = refused(response, 503, "INTERNAL")
    assert error["extensions"]["reason"] == "WECOM_TIMEOUT" and response.headers["retry-after"]
    assert len(wecom.calls_to(GETUSERINFO)) == 1  # not retried: the code may be used


@pytest.mark.parametrize(
    "answer",
    [
        {"garbage": True},
        {"status": 404},
        {"body": {"userid": ""}},
        {"body": {"userid": "含有中文"}},
        {"body": {"userid": ["zhangwei"]}},
        {"body": {}},
    ],
    ids=["not-json", "404-page", "empty-userid", "bad-userid", "list-userid", "no-userid"],
)
async def test_an_unusable_getuserinfo_answer_is_502(
    browser: httpx.AsyncClient, wecom: FakeWecom, answer: dict[str, object]
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    wecom.then(GETUSERINFO, answer)
    error = refused(await sign_in(browser, wecom, "zhangwei"), 502, "INTERNAL")
    assert error["extensions"]["reason"] == "WECOM_UPSTREAM"


@pytest.mark.parametrize(
    "answer",
    [
        {"body": {"access_token": "", "expires_in": 7200}},
        {"body": {"access_token": "t", "expires_in": "7200"}},
        {"body": {"access_token": "t", "expires_in": 0}},
        {"garbage": True},
    ],
)
async def test_an_unusable_gettoken_answer_is_502(
    browser: httpx.AsyncClient, wecom: FakeWecom, answer: dict[str, object]
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    wecom.then("/cgi-bin/gettoken", answer)
    refused(await sign_in(browser, wecom, "zhangwei"), 502, "INTERNAL")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/cgi-bin/tag/list", {"taglist": [{"tagid": "1", "tagname": 3}, 5, None]}),
        ("/cgi-bin/tag/list", {"taglist": [{"tagid": 1, "tagname": ["合规审批"]}]}),
        ("/cgi-bin/tag/list", {"taglist": {"tagid": 1}}),
        ("/cgi-bin/tag/get", {"userlist": [{"userid": ["lina"]}, "lina"], "partylist": "99"}),
        ("/cgi-bin/tag/get", {"userlist": 7, "partylist": [True, "99"]}),
        ("/cgi-bin/user/get", {"userid": "lina", "department": "99", "status": 1}),
    ],
)
async def test_answers_that_cannot_be_read_give_no_role_and_no_500(
    browser: httpx.AsyncClient, wecom: FakeWecom, path: str, body: dict[str, object]
) -> None:
    wecom.add("lina", 99)
    wecom.tag(COMPLIANCE_TAG, departments=(7,))
    wecom.then(path, {"body": body})
    error = refused(await sign_in(browser, wecom, "lina"), 403, "FORBIDDEN")
    assert error["extensions"]["reason"] == "UNMAPPED"


async def test_a_tag_listed_many_times_is_read_once(
    browser: httpx.AsyncClient, wecom: FakeWecom
) -> None:
    wecom.add("lina", 99)
    wecom.tag(COMPLIANCE_TAG, "lina")
    taglist = [{"tagid": 1, "tagname": COMPLIANCE_TAG}] * 50
    wecom.then("/cgi-bin/tag/list", {"body": {"taglist": taglist}})
    assert (await sign_in(browser, wecom, "lina")).status_code == 303
    assert len(wecom.calls_to("/cgi-bin/tag/get")) == 1


async def test_no_secret_code_token_name_or_mobile_reaches_a_log_line(
    browser: httpx.AsyncClient, wecom: FakeWecom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wecom.add("sunli", SUPPORT_DEPARTMENT)
    wecom.add("nomap", 99)
    assert (await sign_in(browser, wecom, "sunli")).status_code == 303
    wecom.then(GETUSERINFO, {"errcode": -1}, {"errcode": 40029})
    await sign_in(browser, wecom, "sunli")
    wecom.then(USER_GET, {"errcode": 60020})
    await sign_in(browser, wecom, "nomap")
    await sign_in(browser, wecom, "nomap")
    codes = [params["code"] for params in wecom.calls_to(GETUSERINFO)]
    assert codes and wecom.token
    # Every record with its extra fields; the database driver's own debug lines (SQL and its
    # parameters, never on in production) aside.
    logged = "\n".join(
        f"{r.getMessage()} {r.__dict__}"
        for r in caplog.records
        if not r.name.startswith(("aiosqlite", "sqlalchemy", "asyncpg"))
    )
    for secret in (SECRET, wecom.token, *codes, "王小明", "13800138000", "sunli", "nomap"):
        assert secret not in logged
    assert "'errcode': 60020" in logged and "trusted IPs" in logged  # for the operator
