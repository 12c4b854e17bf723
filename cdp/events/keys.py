"""The event ids seen, on PostgreSQL: `events` is partitioned by month (cdp.partitions) and a
partitioned table cannot keep a column unique across its partitions, so the id that makes
ingest idempotent lives in a narrow table of its own, `event_keys` (event id -> its time,
migration 0025). Ingest inserts the keys first, ON CONFLICT DO NOTHING, in the transaction
that inserts the events, and inserts only the events whose keys were new: a concurrent
transaction with the same id waits for the first, as on a unique column. Retention drops a
month of events and deletes that month's keys (by the time index); erasure deletes the
person's. Not in `cdp.models`' metadata: SQLite keeps `events.event_id` unique instead.

Keys go with their events, so a replay of an expired event is refused by its age (ingest
takes nothing more than a year old, retention keeps 13 months), never recorded again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.columns import UtcDateTime
from cdp.db import insert_ignoring_duplicates

PG_ONLY = sa.MetaData()
EVENT_KEYS = sa.Table(
    "event_keys",
    PG_ONLY,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Index("ix_event_keys_occurred_at", "occurred_at"),
)


async def claim_keys(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> set[str]:
    """Insert the rows' event ids; the ones that were new (their events are to be inserted)."""
    keys = [{"event_id": r["event_id"], "occurred_at": r["occurred_at"]} for r in rows]
    return set(await insert_ignoring_duplicates(session, EVENT_KEYS, keys, key="event_id"))


async def forget_keys_of(session: AsyncSession, events: sa.Table, profile_id: int) -> None:
    """Before a person's events are deleted: their keys."""
    await session.execute(
        sa.delete(EVENT_KEYS).where(
            EVENT_KEYS.c.event_id.in_(
                sa.select(events.c.event_id).where(events.c.profile_id == profile_id)
            )
        )
    )


async def forget_keys_between(session: AsyncSession, start: datetime, end: datetime) -> int:
    """The keys of a month of events whose partition was dropped."""
    result = await session.execute(
        sa.delete(EVENT_KEYS).where(
            EVENT_KEYS.c.occurred_at >= start, EVENT_KEYS.c.occurred_at < end
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def forget_keys(session: AsyncSession, event_ids: list[str]) -> None:
    if event_ids:
        await session.execute(sa.delete(EVENT_KEYS).where(EVENT_KEYS.c.event_id.in_(event_ids)))
