"""Filling the numbers no committed record holds (writes that rolled back) with `audit.gap`
records, so that the sealer never passes over a record that commits later.

A number below a committed one was taken before it (the sequence only grows), so its writer,
if it still runs, was in progress when the hole was seen. On SQLite writers are serialised
and the primary key (seq) catches any race. On PostgreSQL the records are partitioned by
month (cdp.partitions) and the primary key is (seq, occurred_at): a gap record of this
month would not collide with a late record of last month holding the same number. So the
sealer waits instead for every transaction in progress when it saw the hole to end (at most
WAIT_SECONDS, then it seals up to the hole and tries again next round), reads again, and
fills only the numbers still missing: those can no longer be written.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.db import utcnow

SEALER_SUBJECT = "cdp-sealer"
WAIT_SECONDS = 2.0
_IN_PROGRESS = sa.text(
    "SELECT coalesce(array_agg(CAST(CAST(x AS text) AS bigint)), '{}') "
    "FROM pg_snapshot_xip(pg_current_snapshot()) AS x "
    "WHERE x IS DISTINCT FROM pg_current_xact_id_if_assigned()"
)
_ENDED = sa.text(
    "SELECT coalesce(bool_and(pg_xact_status(CAST(CAST(x AS text) AS xid8)) "
    "IS DISTINCT FROM 'in progress'), true) FROM unnest(CAST(:xids AS bigint[])) AS x"
)


def holes(after: int, seqs: list[int]) -> list[int]:
    held = set(seqs)
    return [seq for seq in range(after + 1, max(seqs, default=after)) if seq not in held]


async def _writers_ended(session: AsyncSession) -> bool:
    """Whether every transaction in progress now ends within WAIT_SECONDS."""
    xids = list(await session.scalar(_IN_PROGRESS) or [])
    deadline = time.monotonic() + WAIT_SECONDS
    while xids and not await session.scalar(_ENDED, {"xids": xids}):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _held(session: AsyncSession, seqs: list[int]) -> set[int]:
    found = await session.scalars(
        sa.select(col(AuditEvent.seq)).where(col(AuditEvent.seq).in_(seqs))
    )
    return {int(s) for s in found}


async def fill_gaps(session: AsyncSession, after: int, seqs: list[int]) -> bool:
    """Write an `audit.gap` record at each number below the highest pending one that no record
    holds; True when the pending records should be read again (one turned out to be held by
    a write that committed meanwhile, or the gaps were left for the next round)."""
    missing = holes(after, seqs)
    if not missing:
        return False
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        if not await _writers_ended(session):
            return False  # sealed up to the first hole this round
        if await _held(session, missing):
            return True
    now = utcnow()
    for seq in missing:
        gap = {
            "seq": seq,
            "occurred_at": now,
            "actor_subject": SEALER_SUBJECT,
            "actor_role": "operator",
            "action": "audit.gap",
            "outcome": "ok",
            "fields": [],
            "detail": {"reason": "no write committed this number"},
        }
        try:
            async with session.begin_nested():
                await session.execute(sa.insert(AuditEvent).values(**gap))
        except IntegrityError:
            return True  # its writer committed after all: read again
    return False
