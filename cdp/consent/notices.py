"""The registry of privacy notices: each version's Chinese text, when it takes effect and what
changed, and whether the change is material (a person's choices made under an older notice
then need to be made again: the page asks them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.audit import trail as audit
from cdp.columns import UtcDateTime
from cdp.consent.models import ConsentChange
from cdp.db import utcnow
from cdp.errors import bad_input, conflict
from cdp.text import check_text, clean_text

VERSION_MAX = 32
TITLE_MAX = 200
CHANGES_MAX = 2000
TEXT_MAX = 100_000


class PrivacyNotice(SQLModel, table=True):
    """One version of the notice, as published; never changed once it is in effect."""

    __tablename__ = "privacy_notices"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=VERSION_MAX, unique=True, nullable=False)
    title: str = Field(max_length=TITLE_MAX, nullable=False)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    changes: str = Field(max_length=CHANGES_MAX, nullable=False)
    material: bool = Field(nullable=False)
    effective_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    published_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False)
    )


def _long_text(value: str, *, field: str, max_length: int) -> str:
    text = check_text(value, field=field, multiline=True).strip()
    if not text or len(text) > max_length:
        raise bad_input(f"{field} must be 1-{max_length} characters", field=field)
    return text


async def publish(
    *,
    session: AsyncSession,
    version: str,
    title: str,
    text: str,
    changes: str,
    material: bool,
    effective_at: datetime,
) -> PrivacyNotice:
    """Add a version to the registry (CONFLICT when the version exists); audited."""
    version = clean_text(version, field="version", max_length=VERSION_MAX)
    if await session.scalar(
        sa.select(col(PrivacyNotice.id)).where(col(PrivacyNotice.version) == version)
    ):
        raise conflict(f"privacy notice {version} is already published")
    if effective_at.tzinfo is None:
        raise bad_input("effective date needs a time zone", field="effectiveAt")
    notice = PrivacyNotice(
        version=version,
        title=clean_text(title, field="title", max_length=TITLE_MAX),
        text=_long_text(text, field="text", max_length=TEXT_MAX),
        changes=_long_text(changes, field="changes", max_length=CHANGES_MAX),
        material=material,
        effective_at=effective_at,
    )
    session.add(notice)
    await session.flush()
    audit.record(
        session,
        action="notice.publish",
        detail={"version": version, "material": material, "effective": effective_at.isoformat()},
    )
    return notice


async def all_notices(session: AsyncSession) -> Sequence[PrivacyNotice]:
    """Every version, newest effective first (future ones included)."""
    query = sa.select(PrivacyNotice).order_by(col(PrivacyNotice.effective_at).desc())
    return (await session.scalars(query)).all()


def in_effect(notices: Sequence[PrivacyNotice], now: datetime) -> PrivacyNotice | None:
    """The version in effect at `now` (notices newest first), or None before the first."""
    return next((n for n in notices if n.effective_at <= now), None)


@dataclass(frozen=True)
class NoticeStanding:
    """Which notice is in effect, the one the person last chose under, and whether they must
    choose again: a material version took effect after their last choice."""

    current: PrivacyNotice | None
    accepted_version: str | None
    reconsent_needed: bool


async def standing_of(*, session: AsyncSession, profile_id: int) -> NoticeStanding:
    notices = await all_notices(session)
    now = utcnow()
    current = in_effect(notices, now)
    last = (
        await session.execute(
            sa.select(col(ConsentChange.notice_version), col(ConsentChange.changed_at))
            .where(col(ConsentChange.profile_id) == profile_id)
            .order_by(col(ConsentChange.id).desc())
            .limit(1)
        )
    ).first()
    if current is None or last is None:
        # No choice made yet: the defaults apply and the page shows the notice with them.
        return NoticeStanding(current, None if last is None else last[0], False)
    accepted = last[0]
    by_version = {n.version: n for n in notices}
    chosen_under = by_version.get(accepted) if accepted else None
    since = chosen_under.effective_at if chosen_under is not None else last[1]
    needed = any(n.material and since < n.effective_at <= now for n in notices)
    return NoticeStanding(current, accepted, needed and accepted != current.version)
