"""Coupons: issued idempotently, redeemed exactly once, inside their window and channels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.batches import all_per_owner
from cdp.channels import Channel
from cdp.db import lock_names, utcnow
from cdp.errors import bad_input, conflict, not_found
from cdp.idempotency import earlier_write
from cdp.loyalty.models import Coupon, CouponKind
from cdp.profiles import directory
from cdp.profiles.merge import Merge, reassign_rows
from cdp.profiles.models import Profile
from cdp.text import clean_key, clean_text

MAX_FEN = 100_000_000  # ¥1,000,000
TITLE_MAX = 100


class CouponStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    UPCOMING = "UPCOMING"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"


def status_of(coupon: Coupon, now: datetime) -> CouponStatus:
    if coupon.redeemed_at is not None:
        return CouponStatus.REDEEMED
    if coupon.valid_until is not None and now >= coupon.valid_until:
        return CouponStatus.EXPIRED
    if now < coupon.valid_from:
        return CouponStatus.UPCOMING
    return CouponStatus.AVAILABLE


def _check_terms(coupon: Coupon) -> None:
    """BAD_USER_INPUT naming the first term of `coupon` (as built, not yet added) out of range."""
    percent_off = coupon.percent_off
    if not 1 <= coupon.discount_fen <= MAX_FEN:
        raise bad_input(f"discountFen must be 1-{MAX_FEN}", field="discountFen")
    if coupon.kind is CouponKind.PERCENT and (percent_off is None or not 1 <= percent_off <= 99):
        raise bad_input("a PERCENT coupon needs percentOff 1-99", field="percentOff")
    if coupon.kind is CouponKind.AMOUNT and percent_off is not None:
        raise bad_input("percentOff is for PERCENT coupons", field="percentOff")
    if not 0 <= coupon.min_spend_fen <= MAX_FEN:
        raise bad_input(f"minSpendFen must be 0-{MAX_FEN}", field="minSpendFen")
    if coupon.valid_until is not None and coupon.valid_until <= coupon.valid_from:
        raise bad_input("validUntil must be after validFrom", field="validUntil")


def _terms(coupon: Coupon) -> tuple[object, ...]:
    """What a coupon grants, but for when it starts: what a replay must ask for again."""
    return (
        coupon.profile_id,
        coupon.title,
        coupon.kind,
        coupon.discount_fen,
        coupon.percent_off,
        coupon.min_spend_fen,
        coupon.channels,
        coupon.valid_until,
    )


# Built once: building a statement costs about what running it does.
# The key's holder is found in the directory first: then one shard (the person's) on Citus.
_COUPON_BY_KEY = sa.select(Coupon).where(
    col(Coupon.profile_id) == sa.bindparam("owner"),
    col(Coupon.idempotency_key) == sa.bindparam("key"),
)


async def issue_coupon(
    *,
    session: AsyncSession,
    profile: Profile,
    title: str,
    discount_fen: int,
    idempotency_key: str,
    kind: CouponKind = CouponKind.AMOUNT,
    percent_off: int | None = None,
    min_spend_fen: int = 0,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    channels: Sequence[Channel] = (),
) -> Coupon:
    """Issue a coupon to a person; the same key again returns the same coupon."""
    assert profile.id is not None
    title = clean_text(title, field="title", max_length=TITLE_MAX)
    key = clean_key(idempotency_key)
    given_valid_from, valid_from = valid_from, valid_from or utcnow()
    coupon = Coupon(
        profile_id=profile.id,
        title=title,
        kind=kind,
        discount_fen=discount_fen,
        percent_off=percent_off,
        min_spend_fen=min_spend_fen,
        channels=sorted({c.value for c in channels}),
        valid_from=valid_from,
        valid_until=valid_until,
        idempotency_key=key,
    )
    _check_terms(coupon)
    await lock_names(session, [("coupon-key", key)])
    owner = await directory.owner_of(session, directory.idempotency_key("coupons", key))
    existing = None
    if owner is not None:  # else no earlier write holds the key
        existing = await earlier_write(
            session,
            _COUPON_BY_KEY,
            {"owner": owner, "key": key},
            same=lambda held: (
                _terms(held) == _terms(coupon)
                and (given_valid_from is None or held.valid_from == valid_from)
            ),
            what="a different coupon",
            action="coupon.issue",
            profile_id=profile.id,
            detail=lambda held: {"coupon": held.public_id},
        )
    if existing is not None:
        return existing
    session.add(coupon)
    await session.flush()
    detail = {"coupon": coupon.public_id, "discountFen": discount_fen}
    audit.record(session, action="coupon.issue", profile_id=profile.id, detail=detail)
    return coupon


async def redeem_coupon(
    *,
    session: AsyncSession,
    coupon_id: str,
    channel: Channel | None = None,
    now: datetime | None = None,
) -> Coupon:
    """Mark a coupon used, exactly once: a second redemption, concurrent or not, is CONFLICT."""
    now = now or utcnow()
    coupon = await session.scalar(sa.select(Coupon).where(col(Coupon.public_id) == coupon_id))
    if coupon is None:
        raise not_found("No such coupon")
    audit.set_target(session, coupon.profile_id)
    status = status_of(coupon, now)
    if status is CouponStatus.REDEEMED:
        raise conflict("coupon already used")
    if status is CouponStatus.EXPIRED:
        raise conflict("coupon has expired")
    if status is CouponStatus.UPCOMING:
        raise conflict("coupon is not valid yet")
    if coupon.channels and (channel is None or channel.value not in coupon.channels):
        raise conflict(f"coupon is usable only in {', '.join(coupon.channels)}")
    # The condition makes the update the arbiter: of concurrent redemptions one row changes.
    changed = await session.execute(
        sa.update(Coupon)
        .where(col(Coupon.id) == coupon.id, col(Coupon.redeemed_at).is_(None))
        .values(redeemed_at=now, redeemed_channel=channel)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise conflict("coupon already used")
    await session.refresh(coupon)
    detail = {"coupon": coupon.public_id, "channel": channel.value if channel else None}
    audit.record(session, action="coupon.redeem", profile_id=coupon.profile_id, detail=detail)
    return coupon


async def coupons_of(
    *,
    session: AsyncSession,
    profile_ids: Sequence[int],
    status: CouponStatus | None,
    now: datetime,
) -> dict[int, list[Coupon]]:
    """Coupons per profile, newest first, filtered by status as of `now`."""
    where: list[sa.ColumnElement[bool]] = []
    if status is CouponStatus.REDEEMED:
        where.append(col(Coupon.redeemed_at).is_not(None))
    elif status is not None:
        where.append(col(Coupon.redeemed_at).is_(None))
        if status is CouponStatus.EXPIRED:
            where.append(col(Coupon.valid_until) <= now)
        elif status is CouponStatus.UPCOMING:
            where.append(col(Coupon.valid_from) > now)
        else:
            where.append(col(Coupon.valid_from) <= now)
            where.append(sa.or_(col(Coupon.valid_until).is_(None), col(Coupon.valid_until) > now))
    owner, newest_first = col(Coupon.profile_id), (col(Coupon.id).desc(),)
    return await all_per_owner(
        session, Coupon, owner=owner, owners=profile_ids, order=newest_first, where=where
    )


async def move_coupons(merge: Merge) -> int:
    return await reassign_rows(merge, Coupon)
