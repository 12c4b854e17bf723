"""Retention's one runner (both databases): of two workers asking at once, one runs and the
other does nothing; a run that finished within the interval is not repeated; a runner that
died (its heartbeat stale) is taken over; `cdp retention run` waits for no one but refuses
to run beside a run under way; and `cdp serve` no longer runs retention itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from cdp.audit.models import AuditEvent
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.privacy.runner import PrivacyWorker
from cdp.retention.leader import STALE, RetentionRun, claim
from cdp.retention.worker import RetentionWorker
from tests.conftest import TEST_KEYRING

KEYRING = KeyringSource.fixed(TEST_KEYRING)


async def runs_audited(database: Database) -> int:
    async with database.transaction() as session:
        query = sa.select(sa.func.count()).where(AuditEvent.action == "retention.run")
        return int(await session.scalar(query) or 0)


def workers(database: Database, keystore: KeyStore, n: int) -> list[RetentionWorker]:
    return [
        RetentionWorker(database.settings, database, KEYRING, keystore, holder=f"worker-{i}")
        for i in range(n)
    ]


async def test_of_two_workers_asking_at_once_one_runs_retention(
    database: Database, keystore: KeyStore
) -> None:
    first, second = workers(database, keystore, 2)
    results = await asyncio.gather(first.round(), second.round())
    assert sorted(r is not None for r in results) == [False, True]
    assert await runs_audited(database) == 1
    async with database.transaction() as session:
        (run,) = (await session.scalars(sa.select(RetentionRun))).all()
    assert run.finished_at is not None and not run.failed
    assert run.holder in ("worker-0", "worker-1")
    # Within the day, nobody runs it again.
    assert await first.round() is None and await second.round() is None
    assert await runs_audited(database) == 1


async def test_a_run_whose_runner_died_is_taken_over_and_one_under_way_is_not(
    database: Database, keystore: KeyStore
) -> None:
    now = utcnow()
    async with database.transaction() as session:
        session.add(RetentionRun(holder="gone", started_at=now, heartbeat_at=now, failed=False))
    (worker,) = workers(database, keystore, 1)
    assert await worker.round() is None  # under way elsewhere (its heartbeat is fresh)
    assert await claim(database, holder="cli", interval=None) is None  # the command too
    async with database.transaction() as session:
        await session.execute(sa.update(RetentionRun).values(heartbeat_at=now - 2 * STALE))
    assert await worker.round() is not None
    assert await runs_audited(database) == 1


async def test_a_failed_run_is_tried_again_at_the_next_round(
    database: Database, keystore: KeyStore
) -> None:
    earlier = utcnow() - timedelta(hours=1)
    async with database.transaction() as session:
        session.add(
            RetentionRun(
                holder="w",
                started_at=earlier,
                heartbeat_at=earlier,
                finished_at=earlier,
                failed=True,
            )
        )
    (worker,) = workers(database, keystore, 1)
    assert await worker.round() is not None


async def test_the_server_does_not_run_retention(database: Database, keystore: KeyStore) -> None:
    worker = PrivacyWorker(database.settings, database, KEYRING, keystore)
    await worker.step()
    assert await runs_audited(database) == 0
