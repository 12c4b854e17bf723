"""Reading the audit log: filters and keyset pagination by seq, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.errors import bad_input

MAX_PAGE = 100


@dataclass(frozen=True)
class AuditFilter:
    actor_subject: str | None = None
    actor_role: str | None = None
    profile_id: int | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[AuditEvent]
    last_seq: int | None  # where the next page continues (the caller's cursor holds it)
    has_next_page: bool


async def list_events(
    *, session: AsyncSession, where: AuditFilter, first: int, before: int | None
) -> AuditPage:
    """One page of matching records, newest first, below `before` (a seq) when given."""
    if not 1 <= first <= MAX_PAGE:
        raise bad_input(f"first must be 1-{MAX_PAGE}", field="first")
    if where.since and where.until and where.since > where.until:
        raise bad_input("from must not be after to", field="from")
    query = sa.select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(first + 1)
    if before is not None:
        query = query.where(col(AuditEvent.seq) < before)
    if where.actor_subject is not None:
        query = query.where(col(AuditEvent.actor_subject) == where.actor_subject)
    if where.actor_role is not None:
        query = query.where(col(AuditEvent.actor_role) == where.actor_role)
    if where.profile_id is not None:
        query = query.where(col(AuditEvent.profile_id) == where.profile_id)
    if where.action is not None:
        query = query.where(col(AuditEvent.action) == where.action)
    if where.outcome is not None:
        query = query.where(col(AuditEvent.outcome) == where.outcome)
    if where.since is not None:
        query = query.where(col(AuditEvent.occurred_at) >= where.since)
    if where.until is not None:
        query = query.where(col(AuditEvent.occurred_at) <= where.until)
    rows = list((await session.scalars(query)).all())
    page = rows[:first]
    return AuditPage(
        events=page,
        last_seq=page[-1].seq if page else None,
        has_next_page=len(rows) > first,
    )
