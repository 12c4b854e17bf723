"""Reading the audit log: filters and cursor pagination, newest first."""

from __future__ import annotations

import base64
import binascii
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
    profile_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[AuditEvent]
    end_cursor: str | None
    has_next_page: bool


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "audit" or not value.isdigit() or len(value) > 18:  # a 64-bit seq
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad_input("after is not a cursor from this list", field="after") from None


async def list_events(
    *, session: AsyncSession, where: AuditFilter, first: int, after: str | None
) -> AuditPage:
    """One page of matching records, newest first; `after` continues a previous page."""
    if not 1 <= first <= MAX_PAGE:
        raise bad_input(f"first must be 1-{MAX_PAGE}", field="first")
    if where.since and where.until and where.since > where.until:
        raise bad_input("from must not be after to", field="from")
    query = sa.select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(first + 1)
    if after is not None:
        query = query.where(col(AuditEvent.seq) < decode_cursor(after))
    if where.actor_subject is not None:
        query = query.where(col(AuditEvent.actor_subject) == where.actor_subject)
    if where.profile_id is not None:
        query = query.where(col(AuditEvent.profile_id) == where.profile_id)
    if where.action is not None:
        query = query.where(col(AuditEvent.action) == where.action)
    if where.since is not None:
        query = query.where(col(AuditEvent.occurred_at) >= where.since)
    if where.until is not None:
        query = query.where(col(AuditEvent.occurred_at) <= where.until)
    rows = list((await session.scalars(query)).all())
    page = rows[:first]
    return AuditPage(
        events=page,
        end_cursor=encode_cursor(page[-1].seq) if page else None,
        has_next_page=len(rows) > first,
    )
