"""Tagging profiles and finding profiles by tag."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.batches import all_per_owner
from cdp.db import lock_names, utcnow
from cdp.idempotency import record_replay
from cdp.profiles.merge import Merge, reassign_rows
from cdp.profiles.models import Profile
from cdp.reevaluation import note as reevaluate
from cdp.tags.models import TAG_MAX, ProfileTag, TagSource
from cdp.text import clean_text


def clean_tag(value: str) -> str:
    return clean_text(value, field="tag", max_length=TAG_MAX)


# Built once: building a statement costs about what running it does.
_TAGGED = sa.select(ProfileTag).where(
    col(ProfileTag.profile_id) == sa.bindparam("profile_id"),
    col(ProfileTag.tag) == sa.bindparam("tag"),
)


async def tag_profile(
    *,
    session: AsyncSession,
    actor: Principal,
    profile: Profile,
    tag: str,
    source: TagSource,
    tagged_at: datetime | None = None,
) -> ProfileTag:
    """Tag a profile; tagging it again with the same tag keeps the first tagging. A past
    `tagged_at` imports history: when the tag was first given."""
    assert profile.id is not None
    tag = clean_tag(tag)
    await lock_names(session, [("tag", str(profile.id), tag)])
    existing = await session.scalar(_TAGGED, {"profile_id": profile.id, "tag": tag})
    if existing is not None:
        record_replay(session, action="tag.add", profile_id=profile.id, detail={"tag": tag})
        return existing
    row = ProfileTag(
        profile_id=profile.id,
        tag=tag,
        source=source,
        tagged_by=actor.subject,
        tagged_at=tagged_at or utcnow(),
    )
    session.add(row)
    await session.flush()
    reevaluate(session, [profile.id])
    detail = {"tag": tag, "source": source.value}
    audit.record(session, action="tag.add", profile_id=profile.id, detail=detail)
    return row


async def untag_profile(*, session: AsyncSession, profile: Profile, tag: str) -> bool:
    """Remove a tag; False when the profile did not have it."""
    tag = clean_tag(tag)
    removed = await session.execute(
        sa.delete(ProfileTag).where(
            col(ProfileTag.profile_id) == profile.id, col(ProfileTag.tag) == tag
        )
    )
    changed = bool(removed.rowcount)  # type: ignore[attr-defined]
    if changed:
        reevaluate(session, [profile.id])
    audit.record(
        session,
        action="tag.remove",
        profile_id=profile.id,
        outcome="ok" if changed else "not_tagged",
        detail={"tag": tag},
    )
    return changed


async def tags_of(
    *, session: AsyncSession, profile_ids: Sequence[int]
) -> dict[int, list[ProfileTag]]:
    owner, order = col(ProfileTag.profile_id), (col(ProfileTag.tag),)
    return await all_per_owner(session, ProfileTag, owner=owner, owners=profile_ids, order=order)


async def profiles_with_tag(
    *, session: AsyncSession, tag: str, limit: int, after_profile_id: int | None
) -> list[Profile]:
    """Profiles carrying `tag`, in a stable order (by internal id), `limit` at a time."""
    query = (
        sa.select(Profile)
        .join(ProfileTag, col(ProfileTag.profile_id) == col(Profile.id))
        .where(col(ProfileTag.tag) == clean_tag(tag))
        .order_by(col(Profile.id))
        .limit(limit)
    )
    if after_profile_id is not None:
        query = query.where(col(Profile.id) > after_profile_id)
    return list((await session.scalars(query)).all())


async def merge_tags(merge: Merge) -> int:
    """Move the loser's tags; a tag both carry is kept once, the earlier tagging."""
    session, survivor, loser = merge.session, merge.survivor, merge.loser
    both = sa.select(col(ProfileTag.tag)).where(col(ProfileTag.profile_id) == survivor.id)
    loser_rows = (
        await session.scalars(
            sa.select(ProfileTag).where(
                col(ProfileTag.profile_id) == loser.id, col(ProfileTag.tag).in_(both)
            )
        )
    ).all()
    for row in loser_rows:
        kept = await session.scalar(
            sa.select(ProfileTag).where(
                col(ProfileTag.profile_id) == survivor.id, col(ProfileTag.tag) == row.tag
            )
        )
        assert kept is not None
        if row.tagged_at < kept.tagged_at:
            kept.source, kept.tagged_at, kept.tagged_by = row.source, row.tagged_at, row.tagged_by
        await session.delete(row)
    await session.flush()
    return await reassign_rows(merge, ProfileTag)
