"""Keeping follow state and the subscribe-message ledger; keyword-only, never committing.

WeChat may deliver pushes late or out of order (retries): a follow change older than the
state kept is ignored, so an old unsubscribe never undoes a newer follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.db import utcnow
from cdp.profiles.merge import Merge, reassign_rows
from cdp.reevaluation import note as reevaluate
from cdp.subscriptions.models import SCENE_MAX, TEMPLATE_MAX, SubscribeGrant, WechatFollow

ACCEPT, REJECT, BAN = "accept", "reject", "ban"


async def set_follow(
    *,
    session: AsyncSession,
    profile_id: int,
    app_id: str,
    open_id_bidx: bytes,
    following: bool,
    at: datetime,
    scene: str | None = None,
) -> WechatFollow:
    """Record a follow (with the scene that brought them) or an unfollow at `at`; a change
    older than what is kept leaves it as it is. An unfollow keeps the scene of the follow."""
    # A follow lives with its identity's profile (merges move both), so naming the profile
    # finds the same row, and on Citus locks it on the person's one shard.
    row = await session.scalar(
        sa.select(WechatFollow)
        .where(
            col(WechatFollow.profile_id) == profile_id,
            col(WechatFollow.app_id) == app_id,
            col(WechatFollow.open_id_bidx) == open_id_bidx,
        )
        .with_for_update()
    )
    now = utcnow()
    if row is None:
        row = WechatFollow(
            profile_id=profile_id,
            app_id=app_id,
            open_id_bidx=open_id_bidx,
            following=following,
            since=at,
            scene=(scene or None) if following else None,
            updated_at=now,
        )
        session.add(row)
    elif at >= row.since:
        if row.following != following:
            row.since = at
        row.following = following
        if following:
            row.scene = (scene or None) and scene[:SCENE_MAX]
        row.updated_at = now
    await session.flush()
    reevaluate(session, [profile_id])
    return row


def choice_of(status: str) -> str | None:
    """WeChat's SubscribeStatusString as a ledger choice (acceptWithAudio etc. accept too)."""
    lowered = status.strip().lower()
    if lowered.startswith(ACCEPT):
        return ACCEPT
    if lowered in (REJECT, BAN):
        return lowered
    return None


async def record_choice(
    *,
    session: AsyncSession,
    profile_id: int,
    app_id: str,
    open_id_bidx: bytes,
    template_id: str,
    choice: str,
    at: datetime,
) -> SubscribeGrant:
    """An accept adds one sending to spend; a reject or ban records the choice and leaves
    what was accepted before (each acceptance is one message, whatever came after)."""
    template_id = template_id[:TEMPLATE_MAX]
    row = await session.scalar(
        sa.select(SubscribeGrant)
        .where(
            col(SubscribeGrant.profile_id) == profile_id,
            col(SubscribeGrant.app_id) == app_id,
            col(SubscribeGrant.open_id_bidx) == open_id_bidx,
            col(SubscribeGrant.template_id) == template_id,
        )
        .with_for_update()
    )
    if row is None:
        row = SubscribeGrant(
            profile_id=profile_id,
            app_id=app_id,
            open_id_bidx=open_id_bidx,
            template_id=template_id,
            available=0,
            choice=choice,
            chosen_at=at,
        )
        session.add(row)
    if choice == ACCEPT:
        row.available += 1
    if at >= row.chosen_at:
        row.choice, row.chosen_at = choice, at
    row.updated_at = utcnow()
    await session.flush()
    return row


async def follows_of(
    *, session: AsyncSession, profile_ids: Sequence[int]
) -> dict[int, list[WechatFollow]]:
    """Each profile's follow states, by app id (every id given has a list, maybe empty)."""
    found: dict[int, list[WechatFollow]] = {pid: [] for pid in profile_ids}
    if profile_ids:
        rows = await session.scalars(
            sa.select(WechatFollow)
            .where(col(WechatFollow.profile_id).in_(list(profile_ids)))
            .order_by(col(WechatFollow.app_id), col(WechatFollow.id))
        )
        for row in rows:
            found[row.profile_id].append(row)
    return found


async def grants_of(*, session: AsyncSession, profile_id: int) -> list[SubscribeGrant]:
    rows = await session.scalars(
        sa.select(SubscribeGrant)
        .where(col(SubscribeGrant.profile_id) == profile_id)
        .order_by(col(SubscribeGrant.app_id), col(SubscribeGrant.template_id))
    )
    return list(rows)


async def move_subscriptions(merge: Merge) -> int:
    # Keyed per identity, and identities move as they are: no two rows of one key meet.
    return await reassign_rows(merge, WechatFollow) + await reassign_rows(merge, SubscribeGrant)
