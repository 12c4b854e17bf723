"""The person's own copy of their data (PIPL Art. 45): a short-lived link that works once.

The link carries a random token; the database keeps only its SHA-256, so the table leaks no
working link. Issuing is audited and limited per person per day (counted in the database, so
every instance of the server shares the limit); fetching marks the link used and writes the
export's own audit record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.audit import trail as audit
from cdp.columns import UtcDateTime, profile_fk, timestamp_field
from cdp.db import utcnow
from cdp.erasure.export import export_profile
from cdp.errors import Throttled
from cdp.keys.vault import Vault
from cdp.profiles.models import Profile

OWN_COPY = "the person's own copy (PIPL Art. 45)"
TOKEN_BYTES = 32
DAY = timedelta(days=1)


class DataExportLink(SQLModel, table=True):
    __tablename__ = "data_export_links"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, unique=True))
    profile_id: int = Field(sa_column=profile_fk())
    created_at: datetime = timestamp_field()
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class IssuedLink:
    token: str
    expires_at: datetime


async def issue_link(
    *, session: AsyncSession, profile: Profile, ttl: timedelta, per_day: int
) -> IssuedLink:
    """A new one-use link to `profile`'s export; Throttled past `per_day` in 24 hours."""
    assert profile.id is not None
    now = utcnow()
    issued = await session.scalar(
        sa.select(sa.func.count())
        .select_from(DataExportLink)
        .where(
            col(DataExportLink.profile_id) == profile.id,
            col(DataExportLink.created_at) > now - DAY,
        )
    )
    if int(issued or 0) >= per_day:
        oldest = await session.scalar(
            sa.select(sa.func.min(col(DataExportLink.created_at))).where(
                col(DataExportLink.profile_id) == profile.id,
                col(DataExportLink.created_at) > now - DAY,
            )
        )
        wait = ((oldest or now) + DAY - now).total_seconds()
        raise Throttled(
            f"at most {per_day} copies of your data a day", limit="exports", retry_after=wait
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = DataExportLink(
        token_hash=_hash(token), profile_id=profile.id, created_at=now, expires_at=now + ttl
    )
    session.add(link)
    await session.flush()
    audit.record(
        session,
        action="export.link",
        profile_id=profile.id,
        detail={"expires": link.expires_at.isoformat()},
    )
    return IssuedLink(token=token, expires_at=link.expires_at)


async def redeem_link(
    *, session: AsyncSession, vault: Vault, token: str
) -> tuple[Profile, dict[str, Any]] | None:
    """The export behind an unused, unexpired link, which is used up; None for any other
    token (unknown, used, expired: the caller cannot tell which)."""
    if not token or len(token) > 100:
        return None
    link = await session.scalar(
        sa.select(DataExportLink)
        .where(col(DataExportLink.token_hash) == _hash(token))
        .with_for_update()
    )
    now = utcnow()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    profile = await session.get(Profile, link.profile_id)
    if profile is None:
        return None
    link.used_at = now
    await session.flush()
    document = await export_profile(session=session, vault=vault, profile=profile, purpose=OWN_COPY)
    return profile, document


async def forget_links(session: AsyncSession, *, before: datetime) -> int:
    """Links expired before `before`: no longer worth keeping (retention)."""
    gone = await session.execute(
        sa.delete(DataExportLink).where(col(DataExportLink.expires_at) < before)
    )
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
