"""The seeding command's database: on SQLite, statements run on the event loop's own thread.

aiosqlite hands every driver call (cursor, execute, fetch, close) to its worker thread and
back: four hand-offs a statement, which cost more than SQLite takes to run it (measured: a
primary-key SELECT through the ORM, 0.5-0.9 ms against 0.2 ms on the loop thread). A seeding
command owns its event loop and awaits one statement at a time, so nothing waits behind a
call that blocks: the same statements, transactions and pragmas, without the hand-offs. The
server keeps aiosqlite's threads, where a blocked loop would stall every request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cdp.config import Settings
from cdp.db import Database, create_engine


class _LoopThreadConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs calls where they are awaited. Opening, closing and
    SQLAlchemy's isolation-level switch still go through the worker thread, and never
    overlap a call here (each is awaited), so the sqlite3 connection is used by one thread
    at a time. aiosqlite (0.21, 0.22) routes every call through `_execute`; a test checks
    that statements still run on the loop's thread."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def seeding_database(settings: Settings) -> Database:
    """The database for `cdp demo-data`: SQLite files on the loop's thread, anything else
    (PostgreSQL, an in-memory or URI-configured SQLite) as the server opens it."""
    url = sa.engine.make_url(settings.database_url)
    path = url.database
    if not settings.is_sqlite or not path or path == ":memory:" or url.query:
        return _plain_sessions(Database(settings))

    async def connect() -> aiosqlite.Connection:
        connector = partial(sqlite3.connect, path, timeout=30, check_same_thread=False)
        connection = _LoopThreadConnection(connector, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return await connection

    return _plain_sessions(Database(settings, create_engine(settings, async_creator=connect)))


def _plain_sessions(database: Database) -> Database:
    # The server's sessions run each statement in a task of its own, so a resolver cancelled
    # by its failing sibling cannot cut one off mid-flight. The seed awaits one statement at
    # a time and nothing cancels it but Ctrl-C, which ends the whole transaction anyway: the
    # extra task per statement cost 1.4 s of CPU over 1,000 profiles.
    database.sessions = async_sessionmaker(  # type: ignore[assignment]  # the base class
        database.engine, class_=AsyncSession, expire_on_commit=False, autoflush=True
    )
    return database
