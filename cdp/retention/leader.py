"""One retention run at a time across the deployment, daily: every `cdp worker` asks, one
claims the run. A claim is a row of `retention_runs`, inserted by one statement only when
no run finished successfully within the interval and none is under way (its heartbeat,
renewed after every batch, younger than STALE: a runner that died is taken over). On
PostgreSQL the claim is made under a transaction-scoped advisory lock, so two claims cannot
both see no run and both insert (an advisory lock held for the whole run would not survive
PgBouncer's transaction pooling); SQLite serialises writers anyway.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.columns import UtcDateTime
from cdp.db import Database, lock_key, utcnow

log = logging.getLogger(__name__)
RETENTION_LOCK = lock_key("retention", "leader")
STALE = timedelta(minutes=15)


class RetentionRun(SQLModel, table=True):
    """A run claimed by one runner: under way until `finished_at`."""

    __tablename__ = "retention_runs"

    id: int | None = Field(default=None, primary_key=True)
    holder: str = Field(max_length=128, nullable=False)
    started_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))
    heartbeat_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    finished_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UtcDateTime, nullable=True)
    )
    failed: bool = Field(default=False, nullable=False)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


async def _lock(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        await session.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RETENTION_LOCK})
    )


async def claim(
    database: Database, *, holder: str, interval: timedelta | None, now: datetime | None = None
) -> int | None:
    """Claim the run; its id, or None when another runner holds it or (with `interval`) one
    succeeded within it."""
    now = now or utcnow()
    R = RetentionRun.__table__  # type: ignore[attr-defined]
    busy = sa.and_(R.c.finished_at.is_(None), R.c.heartbeat_at > now - STALE)
    if interval is not None:
        done_lately = sa.and_(
            R.c.finished_at.is_not(None), sa.not_(R.c.failed), R.c.started_at > now - interval
        )
        busy = sa.or_(busy, done_lately)
    async with database.transaction() as session:
        if not await _lock(session):
            return None
        claimed = await session.scalar(
            sa.insert(R)
            .from_select(
                ["holder", "started_at", "heartbeat_at", "failed"],
                sa.select(
                    sa.literal(holder, sa.String),
                    sa.literal(now, UtcDateTime),
                    sa.literal(now, UtcDateTime),
                    sa.false(),
                ).where(~sa.exists().where(busy)),
            )
            .returning(R.c.id)
        )
    return None if claimed is None else int(claimed)


async def beat(database: Database, run_id: int) -> None:
    async with database.transaction() as session:
        await session.execute(
            sa.update(RetentionRun)
            .where(col(RetentionRun.id) == run_id)
            .values(heartbeat_at=utcnow())
        )


async def finish(database: Database, run_id: int, *, failed: bool) -> None:
    async with database.transaction() as session:
        now = utcnow()
        await session.execute(
            sa.update(RetentionRun)
            .where(col(RetentionRun.id) == run_id)
            .values(heartbeat_at=now, finished_at=now, failed=failed)
        )
