"""SQLite's writers, queued in the process; its readers, off the queue.

SQLite lets one transaction write at a time. Left to SQLite, a writer that finds the lock
taken sleeps in its busy handler (1, 2, 5 ... 100 ms at a time) and tries again, so under
load whoever happens to wake at the right moment wins and the unlucky wait for seconds. Here
the writers of one process queue on one asyncio lock per database file instead (first come,
first served, woken the moment the lock is free), and SQLite's busy timeout is left to the
writers of other processes (`cdp serve --workers N` on one file), as before.

A transaction begins as a writer (`BEGIN IMMEDIATE` once it holds the lock: the write lock
is SQLite's from the first statement on, so nothing it read can go stale) unless its
connection carries the `READS` execution option (`reading(engine)`): then it begins
`DEFERRED`, reads from its own WAL snapshot beside the writer, and queues only when it first
writes. Such a late write meets SQLITE_BUSY_SNAPSHOT when someone committed since its
snapshot: never a write on a stale read; nothing was written, and the GraphQL view runs the
query once more as a writer (elsewhere it is an outage, 503 with Retry-After). The commonest
late write is spared that: a read's audit records (`begin_appending`).

Readers are the GraphQL view's queries and the key store's one-statement reads; everything
else (mutations, the CLI, `cdp serve`'s background tasks) begins as a writer, in the queue.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

READS = "cdp_sqlite_reads"  # execution option: the transaction begins DEFERRED
_HELD = "cdp.sqlite.held"  # connection info: the queue's lock this transaction holds
_READING = "cdp.sqlite.reading"  # began DEFERRED
_QUEUE = "cdp.sqlite.queue"  # the queue of the file (and its wait) the connection is of
# What a read transaction may run without writing; anything else is taken for a write (a
# missed write would still be safe: SQLite locks it, only not in the queue). SQLite allows
# a WITH before INSERT, UPDATE and DELETE.
_READ_ONLY = re.compile(r"\s*(SELECT|EXPLAIN|SAVEPOINT|RELEASE|ROLLBACK|COMMIT|BEGIN)\b", re.I)
_CTE = re.compile(r"\s*WITH\b", re.I)
_DML = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)


def _writes(statement: str) -> bool:
    if _READ_ONLY.match(statement):
        return False
    if _CTE.match(statement):
        return bool(_DML.search(statement))
    return not statement.lstrip().upper().startswith("PRAGMA") or "=" in statement


class WriterQueue:
    """The writers of one database file in this process: one lock per event loop (a lock
    belongs to the loop it first waits on; tests run several loops in one process)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found

    async def acquire(self, wait_seconds: float) -> asyncio.Lock:
        """The lock, once it is this caller's; after `wait_seconds` (the busy timeout),
        SQLite's own "database is locked" (SQLITE_BUSY: an outage, 503, as before)."""
        lock = self.lock()
        try:
            async with asyncio.timeout(wait_seconds):
                await lock.acquire()
        except TimeoutError:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise busy from None
        return lock


_QUEUES: dict[str, WriterQueue] = {}


def queue_for(name: str) -> WriterQueue:
    """The one queue of a database file in this process, whichever engine reaches it."""
    found = _QUEUES.get(name)
    if found is None:
        found = _QUEUES[name] = WriterQueue(name)
    return found


def _hold(info: dict[Any, Any]) -> None:
    """Join the queue (runs inside SQLAlchemy's greenlet, so it may wait on the loop)."""
    if info.get(_HELD) is None:
        queue, wait_seconds = info[_QUEUE]
        info[_HELD] = await_only(queue.acquire(wait_seconds))


def _info_of(dbapi_connection: Any) -> dict[Any, Any]:
    """A pooled connection's info; none for the ad hoc one of the engine's first connect."""
    try:
        info: dict[Any, Any] = dbapi_connection.info
    except (AttributeError, NotImplementedError):
        return {}
    return info


def _release(info: dict[Any, Any]) -> None:
    lock: asyncio.Lock | None = info.pop(_HELD, None)
    if lock is not None:
        lock.release()


def queue_writers(engine: AsyncEngine, path: str, wait_seconds: float) -> None:
    """Install the queue on a SQLite engine whose connections run without pysqlite's own
    transaction handling (`isolation_level = None`: we say BEGIN)."""
    memory = not path or path == ":memory:"  # one database per connection: nothing shared
    name = f"memory:{id(engine)}" if memory else str(Path(path).resolve())
    queue = (queue_for(name), wait_seconds)
    sync = engine.sync_engine

    @event.listens_for(sync, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        info = conn.info
        info[_QUEUE] = queue
        info[_READING] = bool(conn.get_execution_options().get(READS))
        if info[_READING]:
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        _hold(info)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(info)
            raise

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: sa.Connection, _c: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get(_READING) and info.get(_HELD) is None and _writes(statement):
            # A read transaction's first write queues here. Had it read already and someone
            # committed since, SQLite refuses it (SQLITE_BUSY_SNAPSHOT), as it must: the write
            # may rest on what was read (points written off as `me` reads the balance).
            _hold(info)

    # The lock is let go once SQLite's COMMIT or ROLLBACK has returned (SQLAlchemy's own
    # commit and rollback events come before them), by the dialect's calls that every
    # transaction's end goes through: a connection's commit and rollback, and the pool's
    # reset of a connection handed back. A connection given up without either lets go too.
    dialect = sync.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        _release(_info_of(dbapi_connection))  # a failed COMMIT: the rollback lets go

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _release(_info_of(dbapi_connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    @event.listens_for(sync, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        _release(record.info)

    @event.listens_for(sync, "invalidate")
    def _on_invalidate(_dbapi: Any, record: Any, _exc: Any) -> None:
        _release(record.info)


def reading(engine: AsyncEngine) -> AsyncEngine:
    """The engine whose transactions begin as readers (on SQLite; elsewhere the same)."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{READS: True})


def begin_appending(session: Session) -> None:
    """Before a read transaction appends its audit records: end the read and begin a write.

    The records say who read what; nothing in them depends on the snapshot the read saw, and
    `seq` is numbered after this, under the write lock. So a transaction that has written
    nothing commits its read (there is nothing to commit) and queues for `BEGIN IMMEDIATE`,
    instead of upgrading a snapshot that another writer has most likely outdated by now. The
    response has not been sent yet: if the records cannot be written, nothing is shown (the
    audit fails closed as before). Pending ORM changes are flushed first: they may rest on
    what was read, so they write in the read's own transaction (and queue there) or fail.
    """
    conn = session.connection()
    info = conn.info
    if not info.get(_READING) or info.get(_HELD) is not None:
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
        if info.get(_HELD) is not None:
            return
    conn.exec_driver_sql("COMMIT")
    info[_READING] = False
    _hold(info)
    conn.exec_driver_sql("BEGIN IMMEDIATE")
