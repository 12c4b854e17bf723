"""Consent choices, and merging them (the contact decision is in cdp.consent.contact).

A choice made without a channel covers every channel. The state is one row per
(profile, purpose, channel); every choice is also appended to the history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.channels import Channel
from cdp.consent.models import Consent, ConsentChange, ConsentPurpose, Contact
from cdp.consent.notices import PrivacyNotice
from cdp.db import lock_names, utcnow
from cdp.errors import bad_input
from cdp.outbox import events
from cdp.profiles.merge import Merge, reassign_rows
from cdp.profiles.models import Profile
from cdp.reevaluation import note as reevaluate
from cdp.text import clean_text

MAX_CHOICES = 50
NOTICE_VERSION_MAX = 32


async def _check_notice(session: AsyncSession, version: str, now: datetime) -> None:
    """A choice names a published notice already in effect (BAD_USER_INPUT otherwise). A
    superseded version is accepted: a page loaded before a new version took effect shows the
    old one, and the choice is recorded under what the person saw (if the new version is
    material, `reconsentNeeded` then asks again)."""
    effective = await session.scalar(
        sa.select(col(PrivacyNotice.effective_at)).where(col(PrivacyNotice.version) == version)
    )
    if effective is None:
        raise bad_input(f"unknown privacy notice version {version}", field="noticeVersion")
    if effective > now:
        raise bad_input(
            f"privacy notice {version} takes effect {effective.isoformat()}, not yet",
            field="noticeVersion",
        )


@dataclass(frozen=True)
class Choice:
    purpose: ConsentPurpose
    channel: Channel | None
    granted: bool


async def update_consents(
    *,
    session: AsyncSession,
    actor: Principal,
    profile: Profile,
    choices: Sequence[Choice],
    notice_version: str | None = None,
    source_channel: Channel | None = None,
    now: datetime | None = None,
) -> None:
    """Apply choices in order (a later one overrides an earlier one it overlaps)."""
    assert profile.id is not None
    audit.set_target(session, profile.id)
    now = now or utcnow()
    if not 1 <= len(choices) <= MAX_CHOICES:
        raise bad_input(f"give 1-{MAX_CHOICES} consent choices", field="consents")
    if len({(c.purpose, c.channel) for c in choices}) != len(choices):
        raise bad_input("a purpose and channel appear twice", field="consents")
    if notice_version is not None:
        notice_version = clean_text(
            notice_version, field="noticeVersion", max_length=NOTICE_VERSION_MAX
        )
        await _check_notice(session, notice_version, now)
    await lock_names(session, [("consent", str(profile.id))])
    current = {
        (row.purpose, row.channel): row
        for row in (
            await session.scalars(sa.select(Consent).where(col(Consent.profile_id) == profile.id))
        ).all()
    }
    history = [
        {
            "profile_id": profile.id,
            "purpose": c.purpose,
            "channel": c.channel,
            "granted": c.granted,
            "notice_version": notice_version,
            "source_channel": source_channel,
            "changed_by": actor.subject,
            "changed_at": now,
        }
        for c in choices
    ]
    wanted: dict[tuple[ConsentPurpose, Channel], bool] = {}
    for choice in choices:  # in order: a later choice overrides an earlier overlapping one
        for channel in [choice.channel] if choice.channel else list(Channel):
            wanted[(choice.purpose, channel)] = choice.granted
    fresh = []
    for (purpose, channel), granted in wanted.items():
        row = current.get((purpose, channel))
        if row is None:
            fresh.append(
                {
                    "profile_id": profile.id,
                    "purpose": purpose,
                    "channel": channel,
                    "granted": granted,
                    "notice_version": notice_version,
                    "source_channel": source_channel,
                    "updated_at": now,
                }
            )
        else:
            row.granted, row.notice_version = granted, notice_version
            row.source_channel, row.updated_at = source_channel, now
    # One statement each for the new state rows and the history, however many channels.
    if fresh:
        await session.execute(sa.insert(Consent), fresh)
    await session.execute(sa.insert(ConsentChange), history)
    await session.flush()
    reevaluate(session, [profile.id])
    await events.note(
        session,
        event=events.CONSENT_CHANGED,
        key=f"{profile.public_id}:{uuid.uuid4()}",
        data={
            "profileId": profile.public_id,
            "consents": [
                {
                    "purpose": purpose.value,
                    "channel": channel.value,
                    "granted": granted,
                }
                for (purpose, channel), granted in wanted.items()
            ],
        },
        subject=profile.id,
    )
    audit.record(
        session,
        action="consent.update",
        profile_id=profile.id,
        detail={
            "choices": [
                {
                    "purpose": c.purpose.value,
                    "channel": c.channel.value if c.channel else None,
                    "granted": c.granted,
                }
                for c in choices
            ],
            "noticeVersion": notice_version,
        },
    )


async def consents_of(
    *, session: AsyncSession, profile_ids: Sequence[int]
) -> dict[int, dict[tuple[ConsentPurpose, Channel], Consent]]:
    rows = await session.scalars(sa.select(Consent).where(col(Consent.profile_id).in_(profile_ids)))
    found: dict[int, dict[tuple[ConsentPurpose, Channel], Consent]] = {p: {} for p in profile_ids}
    for row in rows:
        found[row.profile_id][(row.purpose, row.channel)] = row
    return found


async def history_of(
    *, session: AsyncSession, profile_id: int, limit: int, before: int | None
) -> list[ConsentChange]:
    query = (
        sa.select(ConsentChange)
        .where(col(ConsentChange.profile_id) == profile_id)
        .order_by(col(ConsentChange.id).desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(col(ConsentChange.id) < before)
    return list((await session.scalars(query)).all())


async def merge_consents(merge: Merge) -> int:
    """Where both people chose differently, the more restrictive choice wins; both
    histories are kept."""
    session = merge.session
    found = await consents_of(
        session=session, profile_ids=[merge.survivor.id or 0, merge.loser.id or 0]
    )
    kept, taken = found[merge.survivor.id or 0], found[merge.loser.id or 0]
    moving: list[int] = []
    for choice, row in taken.items():
        mine = kept.get(choice)
        if mine is None:
            moving.append(row.id or 0)
            continue
        if mine.granted and not row.granted:
            mine.granted, mine.notice_version = False, row.notice_version
            mine.source_channel, mine.updated_at = row.source_channel, row.updated_at
        await session.delete(row)
    await session.flush()
    if moving:
        await reassign_rows(merge, Consent, where=col(Consent.id).in_(moving))
    await reassign_rows(merge, ConsentChange)
    return len(taken)


async def move_contacts(merge: Merge) -> int:
    return await reassign_rows(merge, Contact)
