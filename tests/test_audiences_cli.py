"""`cdp audiences refresh [NAME]` as an operator runs it: a real process, a progress bar,
every audience (or one) refreshed, idempotent, and an unknown name a clean exit 1."""

from __future__ import annotations

import asyncio
import os
import sys

import sqlalchemy as sa

from cdp.audiences.demo import SLEEPING, define_demo_audiences
from cdp.db import Database
from cdp.keys.vault import Vault
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH, audited
from tests.support.audience_town import (
    IDENTITIES,
    PROFILES,
    TOWNSFOLK,
    building,
    days_ago,
    members_of,
)


async def cdp(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        **({"CDP_KEYSTORE_URL": KEYSTORES[database_url]} if database_url in KEYSTORES else {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cdp", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_refresh_brings_time_bound_audiences_up_to_date_and_twice_changes_nothing(
    database_url: str, database: Database, vault: Vault
) -> None:
    async with building(database, vault) as town:
        await town.joins("quiet", days=20)
        await town.joins("busy", days=20)
    async with audited(database) as session:
        await define_demo_audiences(session=session, actor=TOWNSFOLK, settings=database.settings)
    assert await members_of(database, town, SLEEPING) == set()
    # Time passes with no write: "quiet" has now not been seen for 40 days, "busy" has.
    async with database.transaction() as session:
        await session.execute(sa.update(PROFILES).values(created_at=days_ago(40)))
        await session.execute(sa.update(IDENTITIES).values(last_seen_at=days_ago(40)))
        await session.execute(
            sa.update(IDENTITIES)
            .where(IDENTITIES.c.profile_id == town.people["busy"].id)
            .values(last_seen_at=days_ago(1))
        )
    code, out, err = await cdp("audiences", "refresh", database_url=database_url)
    assert code == 0, err
    assert "refreshing audiences" in out
    assert "cdp: 4 audiences refreshed, 1 entered, 0 left" in out
    assert await members_of(database, town, SLEEPING) == {"quiet"}
    code, out, err = await cdp("audiences", "refresh", SLEEPING, database_url=database_url)
    assert code == 0, err
    assert "cdp: 1 audiences refreshed, 0 entered, 0 left" in out
    code, out, err = await cdp("audiences", "refresh", "无此人群", database_url=database_url)
    assert code == 1
    assert err.strip() == "cdp: no audience named '无此人群'"
