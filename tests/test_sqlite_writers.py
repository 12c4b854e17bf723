"""SQLite's writers queue in the process, its readers stay off the queue (cdp/sqlite_writers.py):
no "database is locked" between one process's writers, no lost update, reads beside a writer,
a read's audit records appended after the commit that outdated its snapshot, a late write on
an outdated snapshot refused (and a query rerun as a writer), several processes on one file.

SQLite's own busy timeout is set to zero on this process's connections: a writer that reached
SQLite's lock held by another writer of the process would fail at once, so every test here
fails if a writer of the process waits anywhere but in the queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from cdp.audit.sealer import seal
from cdp.audit.trail import AuditTrail
from cdp.auth import Role
from cdp.db import Database, sqlite_path
from cdp.outages import stale_snapshot
from cdp.unit_of_work import UnitOfWork
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.people import MINI, link
from tests.support.purchases import EARN

ROOT = Path(__file__).resolve().parent.parent
COUNTER = sa.text("SELECT n FROM counter")
BUMP = sa.text("UPDATE counter SET n = :n")
SPEND = "mutation S($input: SpendPointsInput!) { spendPoints(input: $input) { balanceAfter } }"
ME = "{ me { id phone points { balance } } }"
# The hang guard of the ordering tests: a reader that waited for the writer would never end.
GUARD_SECONDS = 60


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the queue is SQLite's: PostgreSQL has row locks and no single writer


async def no_busy_wait(database: Database) -> None:
    """SQLite's busy timeout off on every connection the database opens from now on."""

    @event.listens_for(database.engine.sync_engine, "connect")
    def _no_wait(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    await database.engine.dispose()  # pooled connections were opened with the old one


async def counter_at_zero(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await session.execute(sa.text("INSERT INTO counter VALUES (0)"))


async def counter(database: Database) -> int:
    async with database.reader_sessions() as session, session.begin():
        return int((await session.execute(COUNTER)).scalar_one())


async def increment(database: Database) -> None:
    async with database.transaction() as session:
        n = (await session.execute(COUNTER)).scalar_one()
        await asyncio.sleep(0)  # let the other writers run into the lock
        await session.execute(BUMP, {"n": n + 1})


async def test_writers_of_one_process_queue_and_never_find_the_database_locked(
    database: Database,
) -> None:
    await no_busy_wait(database)
    await counter_at_zero(database)
    await asyncio.gather(*[increment(database) for _ in range(40)])
    assert await counter(database) == 40


async def test_a_read_runs_while_a_writer_holds_the_queue(database: Database) -> None:
    await no_busy_wait(database)
    await counter_at_zero(database)
    written, read = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with database.transaction() as session:
            await session.execute(BUMP, {"n": 1})
            written.set()
            await read.wait()  # holds the queue (and SQLite's write lock) until the read is done

    async def reader() -> int:
        await written.wait()
        try:
            return await counter(database)  # not the writer's uncommitted 1
        finally:
            read.set()

    async with asyncio.timeout(GUARD_SECONDS):
        _, seen = await asyncio.gather(writer(), reader())
    assert seen == 0
    assert await counter(database) == 1


async def test_a_reads_audit_record_is_written_after_a_commit_that_outdated_its_snapshot(
    database: Database,
) -> None:
    await no_busy_wait(database)
    await counter_at_zero(database)
    trail = AuditTrail(key=TEST_KEYRING.audit_key, actor_subject="reader", actor_role="customer")
    uow = UnitOfWork(database, trail, reads=True)
    async with uow.session() as session:
        assert (await session.execute(COUNTER)).scalar_one() == 0  # the snapshot begins
    trail.read(1, "phone", "full")
    await increment(database)  # another writer commits after it
    await uow.commit()  # the record is appended, not refused as a write on a stale snapshot
    await uow.close()
    async with database.reader_sessions() as session, session.begin():
        rows = (
            await session.execute(sa.text("SELECT seq, action, actor_subject FROM audit_events"))
        ).all()
    assert [tuple(r)[1:] for r in rows] == [("pii.read", "reader")]
    assert await counter(database) == 1


async def test_a_late_write_on_an_outdated_snapshot_is_refused_and_writes_nothing(
    database: Database,
) -> None:
    await no_busy_wait(database)
    await counter_at_zero(database)
    async with database.reader_sessions() as session:
        await session.begin()
        n = (await session.execute(COUNTER)).scalar_one()
        await increment(database)  # commits after the reader's snapshot began
        with pytest.raises(sa.exc.OperationalError) as refused:
            await session.execute(BUMP, {"n": n + 10})
        assert stale_snapshot(refused.value)
        await session.rollback()
    await increment(database)  # the refused reader left the queue free
    assert await counter(database) == 2


async def test_concurrent_spends_and_reads_lose_no_update_and_meet_no_lock(
    database: Database, client_for: ClientFactory
) -> None:
    await no_busy_wait(database)
    service = client_for(Role.SERVICE)
    person = (await link(service, "MINI_PROGRAM", MINI, "oQueue0000000000000000001"))["id"]
    earned = await gql(
        service, EARN, {"input": {"profileId": person, "points": 1000, "idempotencyKey": "e"}}
    )
    assert "errors" not in earned, earned
    customer = client_for(Role.CUSTOMER, subject=person)

    async def spend(i: int) -> dict[str, Any]:
        given = {"profileId": person, "points": 100, "idempotencyKey": f"s{i}"}
        return await gql(client_for(Role.SERVICE), SPEND, {"input": given})

    bodies = await asyncio.gather(
        *[spend(i) for i in range(20)], *[gql(customer, ME) for _ in range(20)]
    )
    spends, reads = bodies[:20], bodies[20:]
    done = [b for b in spends if "errors" not in b]
    assert len(done) == 10
    assert sorted(b["data"]["spendPoints"]["balanceAfter"] for b in done) == list(
        range(0, 1000, 100)
    )
    assert all(b["errors"][0]["extensions"]["code"] == "CONFLICT" for b in spends if b not in done)
    assert all("errors" not in b for b in reads), reads
    final = await gql(customer, ME)
    assert final["data"]["me"]["points"]["balance"] == 0


async def test_lookups_that_miss_while_others_write_are_rerun_as_writers_never_refused(
    database: Database, client_for: ClientFactory
) -> None:
    # A miss is counted after the lookup read (the miss cap): a late write, refused when a
    # writer committed meanwhile; the view runs that query again as a writer.
    await no_busy_wait(database)

    async def miss(i: int) -> httpx.Response:
        query = f'{{ profile(phone: "+86139{i:08d}", purpose: "a call") {{ id }} }}'
        support = client_for(Role.SUPPORT, f"agent-{i}")
        return await support.post("/graphql", json={"query": query})

    async def linked(i: int) -> None:
        await link(client_for(Role.SERVICE), "MINI_PROGRAM", MINI, f"oMiss{i:021d}")

    misses, _ = await asyncio.gather(
        asyncio.gather(*[miss(i) for i in range(12)]),
        asyncio.gather(*[linked(i) for i in range(12)]),
    )
    assert [r.status_code for r in misses] == [200] * 12, [r.text for r in misses]
    assert all(r.json()["data"]["profile"] is None for r in misses)


async def test_the_sealer_writes_through_the_same_queue_as_the_requests(
    database: Database, client_for: ClientFactory
) -> None:
    await no_busy_wait(database)

    async def sealing() -> None:
        for _ in range(5):
            await seal(database, TEST_KEYRING)
            await asyncio.sleep(0)

    async def linked(i: int) -> dict[str, Any]:
        return await link(client_for(Role.SERVICE), "MINI_PROGRAM", MINI, f"oSeal{i:021d}")

    await asyncio.gather(sealing(), *[linked(i) for i in range(10)])
    await seal(database, TEST_KEYRING)
    async with database.reader_sessions() as session, session.begin():
        unsealed = await session.scalar(
            sa.text("SELECT count(*) FROM audit_events WHERE leaf_index IS NULL")
        )
    assert unsealed == 0


PROCESS_INCREMENTS = """
import asyncio, sys
import sqlalchemy as sa
from cdp.config import load_settings
from cdp.db import Database

async def main() -> None:
    database = Database(load_settings({}, database_url=sys.argv[1], keyring=sys.argv[2]))
    async def one() -> None:
        async with database.transaction() as session:
            n = (await session.execute(sa.text("SELECT n FROM counter"))).scalar_one()
            await asyncio.sleep(0)
            await session.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})
    await asyncio.gather(*[one() for _ in range(25)])
    await database.dispose()

asyncio.run(main())
"""


async def test_processes_on_one_file_queue_in_each_and_wait_on_sqlite_between_them(
    database: Database, tmp_path: Path
) -> None:
    await counter_at_zero(database)
    url = f"sqlite+aiosqlite:///{sqlite_path(database.settings)}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    keyring = str(database.settings.keyring)
    others = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROCESS_INCREMENTS,
            url,
            keyring,
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    await asyncio.gather(*[increment(database) for _ in range(25)])
    for process in others:
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
    assert await counter(database) == 75
