"""Membership tiers from paid spend over the last twelve months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.config import Settings
from cdp.orders.models import COUNTS_AS_SPEND, Order
from cdp.outbox import events
from cdp.profiles.models import Profile, Tier
from cdp.reevaluation import note as reevaluate

WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class TierThresholds:
    vip_fen: int
    supreme_fen: int

    @classmethod
    def of(cls, settings: Settings) -> TierThresholds:
        return cls(vip_fen=settings.tier_vip_fen, supreme_fen=settings.tier_supreme_fen)

    def next_above(self, spend_fen: int) -> tuple[Tier, int] | None:
        """The next tier up from this spend and the spend it starts at; None at the top."""
        for tier, starts in ((Tier.VIP, self.vip_fen), (Tier.SUPREME, self.supreme_fen)):
            if spend_fen < starts:
                return tier, starts
        return None

    def tier_for(self, spend_fen: int) -> Tier:
        if spend_fen >= self.supreme_fen:
            return Tier.SUPREME
        if spend_fen >= self.vip_fen:
            return Tier.VIP
        return Tier.STANDARD


async def paid_spends(
    session: AsyncSession, profile_ids: list[int], now: datetime
) -> dict[int, int]:
    """Paid spend over the last twelve months, for many profiles in one statement."""
    rows = await session.execute(
        sa.select(col(Order.profile_id), sa.func.sum(col(Order.total_fen)))
        .where(
            col(Order.profile_id).in_(profile_ids),
            col(Order.status).in_(COUNTS_AS_SPEND),
            col(Order.paid_at) > now - WINDOW,
        )
        .group_by(col(Order.profile_id))
    )
    found = {int(pid or 0): int(total or 0) for pid, total in rows}
    return {pid: found.get(pid, 0) for pid in profile_ids}


# Built once: every order recomputes a tier.
_PAID_SPEND = sa.select(sa.func.coalesce(sa.func.sum(col(Order.total_fen)), 0)).where(
    col(Order.profile_id) == sa.bindparam("profile_id"),
    col(Order.status).in_(COUNTS_AS_SPEND),
    col(Order.paid_at) > sa.bindparam("since"),
)


async def paid_spend(session: AsyncSession, profile_id: int, now: datetime) -> int:
    total = await session.scalar(_PAID_SPEND, {"profile_id": profile_id, "since": now - WINDOW})
    return int(total or 0)


async def recompute_tier(
    *, session: AsyncSession, profile: Profile, thresholds: TierThresholds, now: datetime
) -> Tier:
    """Set the profile's tier from its spend; a refund or time can lower it."""
    assert profile.id is not None
    tier = thresholds.tier_for(await paid_spend(session, profile.id, now))
    if tier is not profile.tier:
        audit.record(
            session,
            action="tier.change",
            profile_id=profile.id,
            detail={"from": profile.tier.value, "to": tier.value},
        )
        await events.note(
            session,
            event=events.TIER_CHANGED,
            key=f"{profile.public_id}:{now.isoformat()}:{tier.value}",
            data={"profileId": profile.public_id, "from": profile.tier.value, "tier": tier.value},
            subject=profile.id,
        )
        profile.tier = tier
        await session.flush()
        reevaluate(session, [profile.id])
    return tier


async def refresh_tiers(
    session: AsyncSession, *, thresholds: TierThresholds, now: datetime, after: int, limit: int
) -> tuple[int, int]:
    """Recompute a batch of tiers (profiles with id > `after`): spend ages out of the
    12-month window and thresholds change, with no order to trigger it. (last id, changed)."""
    profiles = (
        await session.scalars(
            sa.select(Profile).where(col(Profile.id) > after).order_by(col(Profile.id)).limit(limit)
        )
    ).all()
    changed = 0
    for profile in profiles:
        before = profile.tier
        if (
            await recompute_tier(session=session, profile=profile, thresholds=thresholds, now=now)
            is not before
        ):
            changed += 1
    return (profiles[-1].id or after) if profiles else after, changed
