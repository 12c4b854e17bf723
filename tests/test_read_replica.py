"""Reads from a real streaming replica: a primary and a hot standby (pg_basebackup -R) started
for this module; `reading()` uses the standby while it keeps up, the primary when it lags,
when it is down and when none is configured, and nothing can be written through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import sqlalchemy as sa

from cdp.db import Database
from cdp.replica import close_replica, reading
from tests.conftest import make_settings
from tests.pg_cluster import PgCluster, find_bin_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PgCluster, PgCluster]]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found")
    primary = PgCluster.start(bin_dir)
    try:

        async def prepare() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=primary.port, user="postgres")
            try:
                await conn.execute("CREATE DATABASE replicated")
            finally:
                await conn.close()
            conn = await asyncpg.connect(primary.url("replicated").replace("+asyncpg", ""))
            try:
                await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
            finally:
                await conn.close()

        asyncio.run(prepare())
        standby = PgCluster.standby_of(primary)
        try:
            yield primary, standby
        finally:
            standby.stop()
    finally:
        primary.stop()


@pytest.fixture
async def database(pair: tuple[PgCluster, PgCluster]) -> AsyncIterator[Database]:
    primary, standby = pair
    settings = make_settings(
        primary.url("replicated"),
        read_database_url=standby.url("replicated"),
        read_max_lag_seconds=1.0,
    )
    db = Database(settings)
    try:
        yield db
    finally:
        await close_replica(db)
        await db.dispose()


async def on_standby(session: sa.ext.asyncio.AsyncSession) -> bool:
    return bool(await session.scalar(sa.text("SELECT pg_is_in_recovery()")))


async def write(database: Database, body: str) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})


async def seen(database: Database, body: str, *, within: float = 10.0) -> bool:
    """Whether `reading()` sees `body` on the standby within `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async with reading(database) as session:
            found = await session.scalar(
                sa.text("SELECT count(*) FROM notes WHERE body = :b"), {"b": body}
            )
            if found and await on_standby(session):
                return True
        await asyncio.sleep(0.1)
    return False


async def test_reads_go_to_the_standby_and_writes_to_the_primary(database: Database) -> None:
    async with database.transaction() as session:
        assert not await on_standby(session)
    await write(database, "replicated-1")
    assert await seen(database, "replicated-1")


async def test_nothing_can_be_written_through_a_read(database: Database) -> None:
    await write(database, "warm-up")
    assert await seen(database, "warm-up")
    with pytest.raises(sa.exc.DBAPIError, match="read-only"):
        async with reading(database) as session:
            await session.execute(sa.text("INSERT INTO notes (body) VALUES ('nope')"))


async def test_a_lagging_standby_is_passed_over_for_the_primary(
    database: Database, pair: tuple[PgCluster, PgCluster]
) -> None:
    _, standby = pair
    await write(database, "before-pause")
    assert await seen(database, "before-pause")
    conn = await asyncpg.connect(standby.url("replicated").replace("+asyncpg", ""))
    try:
        await conn.execute("SELECT pg_wal_replay_pause()")
        try:
            await write(database, "while-paused")
            await asyncio.sleep(2.5)  # past the 1 s the settings allow, and a lag check
            await write(database, "while-paused-2")
            async with reading(database) as session:
                assert not await on_standby(session)  # the primary, which has it
                found = await session.scalar(
                    sa.text("SELECT count(*) FROM notes WHERE body = 'while-paused-2'")
                )
                assert found == 1
        finally:
            await conn.execute("SELECT pg_wal_replay_resume()")
    finally:
        await conn.close()
    assert await seen(database, "while-paused-2")


async def test_a_standby_that_is_down_leaves_reads_on_the_primary(
    database: Database, pair: tuple[PgCluster, PgCluster]
) -> None:
    _, standby = pair
    standby.stop_server()
    try:
        async with reading(database) as session:
            assert not await on_standby(session)
            assert await session.scalar(sa.text("SELECT count(*) FROM notes")) is not None
    finally:
        standby.start_server()


async def test_without_a_replica_reads_use_the_primary(pair: tuple[PgCluster, PgCluster]) -> None:
    primary, _ = pair
    db = Database(make_settings(primary.url("replicated")))
    try:
        async with reading(db) as session:
            assert not await on_standby(session)
    finally:
        await db.dispose()
