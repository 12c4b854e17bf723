"""Database outages: the failures that mean the database is unavailable, not that cdp is wrong.

Matched on exception types, SQLSTATEs and SQLite result codes, never on message text. Every
route answers an outage the same way (cdp/availability.py): 503, `Retry-After`, a coded error.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine


class Outage(StrEnum):
    """What a client is told in `extensions.reason`."""

    UNAVAILABLE = "DATABASE_UNAVAILABLE"  # unreachable, restarting, connection lost
    TIMEOUT = "DATABASE_TIMEOUT"  # a statement or lock wait cut off by its time limit


# Connection exceptions (class 08), the server shutting down or starting up (57P01-57P03),
# too many connections (53300) and a session ended for idling in a transaction (25P03).
_LOST = {"57P01", "57P02", "57P03", "25P03"}
_UNAVAILABLE = _LOST | {"53300"}
# statement_timeout and lock_timeout (the query is cancelled; the connection stays usable).
_TIMEOUT = {"57014", "55P03"}
_SQLITE_TIMEOUT = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_SQLITE_UNAVAILABLE = {sqlite3.SQLITE_CANTOPEN}
_ASYNCPG = f"{os.sep}asyncpg{os.sep}"


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc` and what it wraps: causes, contexts, a DBAPI error's original, a GraphQL error's."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "original_error", None) or getattr(current, "orig", None)
        for inner in (current.__context__, current.__cause__, wrapped):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def _from_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if _ASYNCPG in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _one(exc: BaseException) -> Outage | None:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return Outage.UNAVAILABLE
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection came free in time
        return Outage.UNAVAILABLE
    state = _sqlstate(exc)
    if state is not None:
        if state in _TIMEOUT:
            return Outage.TIMEOUT
        if state.startswith("08") or state in _UNAVAILABLE:
            return Outage.UNAVAILABLE
        return None
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
        if code in _SQLITE_TIMEOUT:
            return Outage.TIMEOUT
        return Outage.UNAVAILABLE if code in _SQLITE_UNAVAILABLE else None
    if isinstance(exc, ConnectionError | socket.gaierror):
        return Outage.UNAVAILABLE
    if isinstance(exc, TimeoutError) and _from_asyncpg(exc):  # connecting took too long
        return Outage.UNAVAILABLE
    return None


def outage_of(exc: BaseException | None) -> Outage | None:
    """The outage `exc` reports (anywhere in what it wraps), or None for any other failure."""
    for inner in _chain(exc):
        found = _one(inner)
        if found is not None:
            return found
    return None


def stale_snapshot(exc: BaseException | None) -> bool:
    """Whether `exc` is SQLite refusing a read transaction's first write because another
    committed after its snapshot (SQLITE_BUSY_SNAPSHOT): nothing was written, and the same
    work begun as a writer can succeed (cdp/sqlite_writers.py)."""
    return any(
        isinstance(inner, sqlite3.Error)
        and getattr(inner, "sqlite_errorcode", 0) == sqlite3.SQLITE_BUSY_SNAPSHOT
        for inner in _chain(exc)
    )


def lost_connection(exc: BaseException | None) -> bool:
    """Whether the connection that raised `exc` is gone and must not go back to the pool."""
    for inner in _chain(exc):
        if isinstance(inner, ConnectionError):
            return True
        state = _sqlstate(inner)
        if state is not None and (state.startswith("08") or state in _LOST):
            return True
    return False


def invalidate_lost_connections(engine: AsyncEngine) -> None:
    """Tell SQLAlchemy a lost connection is a disconnect, whatever its driver says: the
    connection is dropped (and the pool's older ones re-checked) so the next request gets a
    fresh one, and the service recovers from a database restart by itself."""

    @sa.event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if not context.is_disconnect and lost_connection(context.original_exception):
            context.is_disconnect = True
