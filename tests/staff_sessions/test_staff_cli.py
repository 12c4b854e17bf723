"""`cdp staff sessions` and `cdp staff revoke` as an operator runs them, a real process on
both databases: the live sessions in a table without their secrets, revocations audited as
the operator, one-line errors with the exit codes of the other commands."""

from __future__ import annotations

import asyncio
import os
import sys

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.staff.models import SessionEnd, StaffProvider
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH
from tests.support.staff_desk import open_staff_session, records_of, session_row

CDP = [sys.executable, "-m", "cdp"]


async def cdp(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDP_")},
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        "CDP_KEYSTORE_URL": KEYSTORES[database_url],
        "USER": "ops-anna",
    }
    process = await asyncio.create_subprocess_exec(
        *CDP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cdp_staff_sessions_lists_the_live_sessions_without_their_secrets(
    database_url: str, database: Database, settings: Settings
) -> None:
    support = await open_staff_session(database, settings, Role.SUPPORT, who="zhangsan")
    several = await open_staff_session(
        database, settings, Role.SUPPORT, Role.COMPLIANCE, who="s-1", provider=StaffProvider.OIDC
    )
    code, out, err = await cdp(database_url, "staff", "sessions")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "person" in line)
    for column in ("id", "person", "provider", "role", "since", "last seen", "expires"):
        assert column in header
    lines = {
        o.public_id: next(x for x in out.splitlines() if o.public_id in x)
        for o in (support, several)
    }
    assert "wecom:zhangsan" in lines[support.public_id] and "support" in lines[support.public_id]
    assert "oidc:s-1" in lines[several.public_id] and "not chosen" in lines[several.public_id]
    assert out.index(several.public_id) < out.index(support.public_id)  # newest first
    for opened in (support, several):
        assert opened.token not in out and opened.csrf_token not in out
    [record] = await records_of(database, "staff.list")
    assert (record.actor_subject, record.actor_role) == ("cli:ops-anna", "operator")


async def test_cdp_staff_sessions_says_when_there_are_none(database_url: str) -> None:
    code, out, _ = await cdp(database_url, "staff", "sessions")
    assert (code, out.strip()) == (0, "cdp: no live staff sessions")


async def test_cdp_staff_revoke_ends_one_session_as_the_operator(
    database_url: str, database: Database, settings: Settings
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    code, out, err = await cdp(database_url, "staff", "revoke", opened.public_id)
    assert code == 0, err
    assert out.strip() == "cdp: revoked 1 staff session"
    row = await session_row(database, opened.public_id)
    assert (row.ended_reason, row.ended_by) == (SessionEnd.REVOKED, "cli:ops-anna")
    [record] = await records_of(database, "staff.revoke")
    assert (record.actor_subject, record.actor_role) == ("cli:ops-anna", "operator")


async def test_cdp_staff_revoke_person_ends_all_of_their_sessions(
    database_url: str, database: Database, settings: Settings
) -> None:
    first = await open_staff_session(database, settings, Role.SUPPORT, who="zhangsan")
    second = await open_staff_session(database, settings, Role.COMPLIANCE, who="zhangsan")
    other = await open_staff_session(database, settings, Role.SUPPORT, who="lisi")
    code, out, err = await cdp(database_url, "staff", "revoke", "--person", "wecom:zhangsan")
    assert (code, out.strip()) == (0, "cdp: revoked 2 staff sessions"), err
    for opened in (first, second):
        assert (await session_row(database, opened.public_id)).ended_reason is SessionEnd.REVOKED
    assert (await session_row(database, other.public_id)).ended_reason is None
    code, out, _ = await cdp(database_url, "staff", "revoke", "--person", "wecom:zhangsan")
    assert (code, out.strip()) == (0, "cdp: revoked 0 staff sessions")
    last = (await records_of(database, "staff.revoke"))[-1]
    assert (last.actor_subject, last.detail) == (
        "cli:ops-anna",
        {"person": "wecom:zhangsan", "ended": 0},
    )


async def test_cdp_staff_revoke_refuses_bad_input_in_one_line(database_url: str) -> None:
    for args, exit_code, start in (
        ((), 2, "cdp: give a SESSION_ID or --person"),
        (("ss_1", "--person", "wecom:x"), 2, "cdp: give a SESSION_ID or --person"),
        (("--person", "zhangsan"), 2, "cdp: a person is provider:directory id"),
        (("ss_unknown",), 1, "cdp: No staff session has that id"),
    ):
        code, out, err = await cdp(database_url, "staff", "revoke", *args)
        assert code == exit_code, (args, out, err)
        assert out == ""
        assert err.strip().count("\n") == 0 and err.startswith(start), err
