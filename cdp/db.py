"""Engines and sessions, UTC time, and the locks and inserts that transactions share.

One transaction per request or command: services flush but never commit; the unit of work
commits once, so audit rows land in the same transaction as what they record.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cdp.config import Settings
from cdp.errors import bad_input
from cdp.outages import invalidate_lost_connections
from cdp.sqlite_writers import queue_writers, reading

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime, *, field: str | None = None) -> datetime:
    """An aware UTC datetime; a naive one (as clients and SQLite give them) is taken as UTC.
    BAD_USER_INPUT naming `field` when UTC would leave the calendar (0001-01-01T00:00+01:00)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise bad_input(f"{field or 'a date and time'} is out of range", field=field) from None


_CHECKPOINT_WAIT_MS = 2_000


def _timeout_ms(settings: Settings) -> int:
    return round(settings.statement_timeout_seconds * 1000)


def _busy_ms(settings: Settings) -> int:
    """How long a SQLite writer waits for the write lock, then fails (an outage: 503)."""
    return _timeout_ms(settings) or 2**31 - 1


def _configure_sqlite(engine: AsyncEngine, path: str, busy_ms: int) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT: we say BEGIN (sqlite_writers.py).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten with zeros, not left in free space (erasure).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    queue_writers(engine, path, busy_ms / 1000)


def sqlite_path(settings: Settings) -> str:
    return settings.database_url.split("///", 1)[-1]


def _statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def create_engine(settings: Settings, *, url: str | None = None, **options: Any) -> AsyncEngine:
    """An async engine for the configured database (aiosqlite or asyncpg), or for `url` with the
    same settings (the key store); `options` go to SQLAlchemy's create_async_engine."""
    url = url or settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        busy_ms = _busy_ms(settings)
        engine = create_async_engine(
            url, echo=settings.sql_echo, connect_args={"timeout": busy_ms / 1000}, **options
        )
        _configure_sqlite(engine, path, busy_ms)
        return engine
    # On every connection: one stuck statement, lock wait or abandoned transaction cannot
    # hold a connection or a lock for longer than the statement timeout.
    limit = str(_timeout_ms(settings))
    connect_args: dict[str, Any] = {
        "server_settings": {
            "statement_timeout": limit,
            "idle_in_transaction_session_timeout": limit,
        }
    }
    if settings.database_pooler == "transaction":
        # Consecutive transactions may run on different server connections: asyncpg must not
        # reuse a statement it prepared on another one, nor name two alike (SQLAlchemy's
        # "Using a connection pooler" recipe); a pooler passes no startup setting through.
        connect_args = {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _statement_name,
        }
    engine = create_async_engine(
        url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
        **options,
    )
    invalidate_lost_connections(engine)
    return engine


async def run_to_completion(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` in its own task and let it finish even if the caller is cancelled;
    the cancellation is re-raised once it has."""
    task = asyncio.ensure_future(awaitable)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the caller gets the cancellation instead
        raise cancelled
    return task.result()


class Session(AsyncSession):
    """An AsyncSession whose statements, once sent, run to completion.

    graphql-core cancels a field's sibling resolvers when the field fails, and strawberry
    cancels a DataLoader batch nobody awaits any more. A statement cut off mid-flight makes
    SQLAlchemy invalidate the connection, and with it the request's whole transaction (what
    the mutation wrote, the audit records): the commit would fail and the client get a 500.
    """

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().scalar(*args, **kwargs))

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().scalars(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().get(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().flush(*args, **kwargs))

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().refresh(*args, **kwargs))

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().delete(*args, **kwargs))

    async def merge(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().merge(*args, **kwargs))


class Database:
    """The engine and session factory for one configured database."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self.sessions = async_sessionmaker(
            self.engine, class_=Session, expire_on_commit=False, autoflush=True
        )
        # On SQLite off the writers' queue until they write (cdp/sqlite_writers.py).
        self.reader_sessions = async_sessionmaker(
            reading(self.engine), class_=Session, expire_on_commit=False, autoflush=True
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends cleanly, rolls back otherwise."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def truncate_wal(self) -> bool:
        """SQLite: see `truncate_wal`; False on PostgreSQL."""
        return await truncate_wal(self.engine, self.settings)


async def truncate_wal(engine: AsyncEngine, settings: Settings) -> bool:
    """SQLite: copy the write-ahead log into the database file and truncate it to zero bytes,
    so the page images it holds (rows as they were before a delete) are gone. True when done;
    False when readers kept it busy (the next checkpoint copies it) and on PostgreSQL, which
    has no such file to empty."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        # On the driver's own connection: SQLAlchemy would wrap the pragma in a BEGIN, and
        # a checkpoint cannot run inside a transaction. Waits briefly, not busy_timeout.
        driver: Any = raw.driver_connection
        await driver.execute(f"PRAGMA busy_timeout={_CHECKPOINT_WAIT_MS}")
        try:
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _pages, _copied = await cursor.fetchone()
        except sqlite3.Error:
            busy = 1  # e.g. locked by a long reader: as busy, for the next checkpoint
        finally:
            await driver.execute(f"PRAGMA busy_timeout={_busy_ms(settings)}")
    return not busy


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for a logical name."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_names(session: AsyncSession, names: Iterable[tuple[str, ...]]) -> None:
    """Serialise transactions that touch the same logical names until commit.

    PostgreSQL takes transaction-scoped advisory locks in a fixed order (no deadlock between
    two callers); SQLite needs nothing, as its writers are serialised already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({lock_key(*name) for name in names})
    if len(keys) == 1:
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": keys[0]})
    elif keys:
        # One round trip: the sorted subquery hands the keys to the lock in ascending order.
        await session.execute(
            sa.text(
                "SELECT count(pg_advisory_xact_lock(k)) FROM "
                "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
            ),
            {"keys": keys},
        )


async def insert_ignoring_duplicates(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]], *, key: str
) -> set[Any]:
    """Insert `rows`, skipping any whose unique `key` exists (also when a concurrent
    transaction inserts it first); the keys actually inserted."""
    if not rows:
        return set()
    # In key order: two transactions inserting overlapping keys in different orders would
    # each wait for the other's uncommitted key (a deadlock); in one order, one just waits.
    rows = sorted(rows, key=lambda row: row[key])
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # No conflict target: on Citus the key's unique constraint leads with the distribution
    # column (profile_id), so naming the key alone would match no constraint. The key is the
    # table's only unique column besides a generated id, so any conflict is the key's.
    statement = insert(table).values(rows).on_conflict_do_nothing().returning(table.c[key])
    return set((await session.execute(statement)).scalars())


async def lock_profiles(session: AsyncSession, ids: Iterable[int], *, exclusive: bool) -> bool:
    """Profile locks until commit: whoever writes a profile's data holds it shared; a merge or
    an erasure holds it exclusively, so no write lands on a profile as it is folded away.
    False when there was nothing to wait for (SQLite serialises writers anyway): what was
    read before still holds."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for key in sorted({lock_key("profile", str(i)) for i in ids}):
        await session.execute(sa.text(f"SELECT {function}(:k)"), {"k": key})
    return True
