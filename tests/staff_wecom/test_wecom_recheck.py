"""WeCom as a session's directory check, on both databases: a member removed, disabled or put
outside the app's visibility range is gone; a department or tag change gives the roles of now;
WeCom unreachable raises `WecomUnavailable` and leaves the session as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.roles import Role
from cdp.staff.directory import directory_answered
from cdp.staff.models import SessionEnd, StaffSession
from cdp.staff.wecom import WecomFailure
from cdp.staff.wecom_routes import WecomSignIn, WecomUnavailable
from tests.conftest import TEST_KEYRING, ClientFactory, audited
from tests.staff_wecom.conftest import (
    ANALYST_TAG,
    COMPLIANCE_DEPARTMENT,
    SUPPORT_DEPARTMENT,
    sign_in,
)
from tests.staff_wecom.fake_wecom import FakeWecom


@pytest.fixture
async def directory(settings: Settings, database: Database) -> AsyncIterator[WecomSignIn]:
    signin = WecomSignIn(settings, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        yield signin
    finally:
        await signin.aclose()


async def signed_in(
    client_for: ClientFactory, wecom: FakeWecom, database: Database, userid: str
) -> StaffSession:
    browser: httpx.AsyncClient = client_for(None)
    assert (await sign_in(browser, wecom, userid)).status_code == 303
    async with database.transaction() as session:
        query = sa.select(StaffSession).where(StaffSession.directory_id == userid)  # type: ignore[arg-type]
        return (await session.execute(query)).scalar_one()


async def test_a_member_removed_from_the_corp_is_gone(
    directory: WecomSignIn, client_for: ClientFactory, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "zhangwei")
    del wecom.members["zhangwei"]
    assert await directory.recheck(row) == (None, None)
    async with audited(database) as session:
        row = await session.get(StaffSession, row.id)
        assert row is not None
        ended = await directory_answered(session=session, row=row, roles=None, now=utcnow())
    assert ended is SessionEnd.DIRECTORY


@pytest.mark.parametrize("status", [2, 5])
async def test_a_disabled_member_or_one_who_left_is_gone(
    directory: WecomSignIn,
    client_for: ClientFactory,
    wecom: FakeWecom,
    database: Database,
    status: int,
) -> None:
    member = wecom.add("lina", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "lina")
    member.status = status
    assert await directory.recheck(row) == (None, None)


async def test_a_member_outside_the_apps_visibility_range_is_gone(
    directory: WecomSignIn, client_for: ClientFactory, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("sunli", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "sunli")
    wecom.then("/cgi-bin/user/get", {"errcode": 60011})
    assert await directory.recheck(row) == (None, None)


async def test_a_department_change_gives_the_new_roles(
    directory: WecomSignIn, client_for: ClientFactory, wecom: FakeWecom, database: Database
) -> None:
    member = wecom.add("chenjing", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "chenjing")
    assert await directory.recheck(row) == ((Role.SUPPORT,), None)
    member.departments = [COMPLIANCE_DEPARTMENT]
    assert await directory.recheck(row) == ((Role.COMPLIANCE,), None)
    async with audited(database) as session:
        fresh = await session.get(StaffSession, row.id)
        assert fresh is not None
        ended = await directory_answered(
            session=session, row=fresh, roles=(Role.COMPLIANCE,), now=utcnow()
        )
    assert ended is SessionEnd.DIRECTORY  # it acted as support, which it no longer holds


async def test_a_new_tag_adds_its_role(
    directory: WecomSignIn, client_for: ClientFactory, wecom: FakeWecom, database: Database
) -> None:
    wecom.add("zhaolei", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "zhaolei")
    wecom.tag(ANALYST_TAG, "zhaolei")
    assert await directory.recheck(row) == ((Role.SUPPORT, Role.ANALYST), None)


@pytest.mark.parametrize(
    ("answers", "failure"),
    [
        ([{"errcode": -1}] * 3, WecomFailure.BUSY),
        ([{"delay": 4.0}], WecomFailure.TIMEOUT),
        ([{"errcode": 45009}], WecomFailure.RATE_LIMITED),
        ([{"garbage": True}], WecomFailure.UPSTREAM),
    ],
    ids=["busy", "timeout", "rate-limited", "unusable"],
)
async def test_wecom_unavailable_raises_and_says_when_to_retry(
    directory: WecomSignIn,
    client_for: ClientFactory,
    wecom: FakeWecom,
    database: Database,
    answers: list[dict[str, object]],
    failure: WecomFailure,
) -> None:
    wecom.add("wangfang", SUPPORT_DEPARTMENT)
    row = await signed_in(client_for, wecom, database, "wangfang")
    wecom.then("/cgi-bin/user/get", *answers)
    with pytest.raises(WecomUnavailable) as raised:
        await directory.recheck(row)
    assert raised.value.failure is failure and raised.value.retry_after > 0
