"""`cdp analytics release` as an operator runs it nightly: a real process with CDP_
environment, releasing the closed days of every measure, and again changing nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date

import sqlalchemy as sa

from cdp.analytics import releases
from cdp.analytics.background import RELEASE_LOCK, AnalyticsReleaser
from cdp.analytics.periods import Granularity, period_of
from cdp.analytics.releases import AnalyticsRelease
from cdp.db import Database
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH

RELEASES = AnalyticsRelease.__table__  # type: ignore[attr-defined]


async def release(database_url: str, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        **({"CDP_KEYSTORE_URL": KEYSTORES[database_url]} if database_url in KEYSTORES else {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "analytics",
        "release",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode() + err.decode()


async def test_the_nightly_release_keeps_the_closed_days_and_a_second_run_changes_nothing(
    database_url: str, database: Database
) -> None:
    code, out = await release(database_url, "--days", "3")
    assert code == 0, out
    assert "cdp: released the closed days of the last 3 days for 13 measures" in out
    async with database.transaction() as session:
        first = (await session.execute(sa.select(RELEASES.c.id, RELEASES.c.released_at))).all()
    # Three closed days for each measure that does not wait (the others wait 30 days).
    assert len(first) == 3 * 7, len(first)
    code, out = await release(database_url, "--days", "3")
    assert code == 0, out
    async with database.transaction() as session:
        again = (await session.execute(sa.select(RELEASES.c.id, RELEASES.c.released_at))).all()
    assert sorted(again) == sorted(first)
    code, out = await release(database_url, "--days", "0")
    assert code != 0 and "--days" in out


async def test_a_release_whose_arguments_outgrow_the_column_is_kept_and_found_by_digest(
    database: Database,
) -> None:
    month = period_of(date(2026, 1, 15), Granularity.MONTH)
    hidden = repr(sorted((f"source-{n:03d}", "MINI_PROGRAM") for n in range(40)))
    assert len(hidden) > 300
    computed = []

    async def compute() -> dict[str, int]:
        computed.append(1)
        return {"buyers": 7}

    for _ in range(2):
        async with database.transaction() as session:
            body = await releases.release(
                session, measure="bench-hidden", variant=hidden, period=month, compute=compute
            )
        assert body == {"buyers": 7}
    assert computed == [1]  # kept once, then found again under the same digest


async def test_cdp_serve_s_releaser_keeps_closed_days_and_a_second_round_adds_nothing(
    database: Database, backend: str
) -> None:
    releaser = AnalyticsReleaser(database.settings, database)
    assert await releaser.round() > 0
    async with database.transaction() as session:
        kept = await session.scalar(sa.select(sa.func.count()).select_from(AnalyticsRelease))
    assert kept and kept > 0
    await releaser.round()
    async with database.transaction() as session:
        again = await session.scalar(sa.select(sa.func.count()).select_from(AnalyticsRelease))
    assert again == kept
    if backend == "postgresql":  # another process holding the work: this one skips it all
        async with database.transaction() as holder:
            await holder.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELEASE_LOCK})
            assert await releaser.round() == 0
