"""Reads that tolerate a little delay, from a streaming replica (`CDP_READ_DATABASE_URL`).

`reading(database)` opens a read-only transaction on the hot standby while its replay is at
most `CDP_READ_MAX_LAG_SECONDS` behind what it has received, and on the primary otherwise:
when the replica lags, when it does not answer (then it is left alone for a few seconds), and
when none is configured. Writes, and reads that must see the request's own writes, never come
here: they use `Database.transaction()` or the request's unit of work.

The lag is the standby's own measure, checked at most once a second: zero when it has replayed
everything it received, else the time since the last transaction it replayed.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cdp.db import Database, Session, create_engine

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 1.0
RESTING_SECONDS = 5.0  # after the replica failed to answer, the primary serves meanwhile
_LAG = sa.text(
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class Replica:
    """The standby's engine and what was last learnt of its lag."""

    def __init__(self, database: Database, url: str) -> None:
        self.max_lag = database.settings.read_max_lag_seconds
        self.engine = create_engine(database.settings, url=url)
        self.sessions = async_sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.checked_at = float("-inf")
        self.resting_until = float("-inf")
        self.lag: float | None = None

    async def usable(self) -> bool:
        now = time.monotonic()
        if now < self.resting_until:
            return False
        if now - self.checked_at >= CHECK_EVERY_SECONDS:
            self.checked_at = now
            try:
                async with self.engine.connect() as connection:
                    self.lag = float((await connection.execute(_LAG)).scalar_one())
            except (DBAPIError, OSError) as exc:
                self.rest(exc)
                return False
        return self.lag is not None and self.lag <= self.max_lag

    def rest(self, exc: BaseException) -> None:
        self.lag, self.resting_until = None, time.monotonic() + RESTING_SECONDS
        log.warning(
            "read replica did not answer; reading from the primary",
            extra={"error_type": type(exc).__qualname__},
        )


_REPLICAS: weakref.WeakKeyDictionary[Database, Replica] = weakref.WeakKeyDictionary()


def replica_of(database: Database) -> Replica | None:
    url = database.settings.read_database_url
    if url is None:
        return None
    replica = _REPLICAS.get(database)
    if replica is None:
        replica = _REPLICAS[database] = Replica(database, url)
    return replica


@asynccontextmanager
async def standby(database: Database) -> AsyncIterator[AsyncSession | None]:
    """A read-only transaction on the replica while it is fresh enough, else None."""
    replica = replica_of(database)
    if replica is None or not await replica.usable():
        yield None
        return
    session = replica.sessions()
    try:
        await session.connection()  # checked out and pinged (pool_pre_ping), or not
    except (DBAPIError, OSError) as exc:
        await session.close()
        replica.rest(exc)
        yield None
        return
    try:
        yield session
    finally:
        await session.rollback()  # nothing to keep: the standby is read-only
        await session.close()


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[AsyncSession]:
    """A read-only transaction, on the replica when it is fresh enough, else the primary."""
    async with standby(database) as replica_session:
        if replica_session is not None:
            yield replica_session
            return
    async with database.transaction() as primary:
        yield primary


async def close_replica(database: Database) -> None:
    replica = _REPLICAS.pop(database, None)
    if replica is not None:
        await replica.engine.dispose()
