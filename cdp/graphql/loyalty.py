"""Points and coupons in GraphQL: the `points` and `coupons` of a profile, and the service
mutations that earn, spend, adjust, issue and redeem."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.channels import Channel
from cdp.db import as_utc, utcnow
from cdp.graphql.context import Info, by_key
from cdp.graphql.lookups import profile_by_id, profile_write
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import DEFAULT_FIRST, After, First, Page, check_first, decode_int, page_of
from cdp.loyalty import coupons, points
from cdp.loyalty.coupons import CouponStatus
from cdp.loyalty.models import Coupon, CouponKind, EntryKind, PointsEntry


@object_type("PointsEntry", description="One movement of points in the ledger (append-only).")
class PointsEntryType:
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    kind: EntryKind = strawberry.field(description="Earned, spent, expired or adjusted.")
    points: int = strawberry.field(description="Signed: what this entry added to the balance.")
    balance_after: int = strawberry.field(description="The balance right after this entry.")
    reason: str | None = strawberry.field(description="Why, as the writer said (e.g. 消费积分).")
    channel: Channel | None = strawberry.field(description="The app it happened in, if named.")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")
    expires_at: datetime | None = strawberry.field(
        description="When earned points stop counting (UTC); null for other kinds."
    )

    @classmethod
    def of(cls, row: PointsEntry) -> PointsEntryType:
        return copied(cls, row, id=strawberry.ID(str(row.id)))


@object_type("PointsHistoryPage", description="One page of a points ledger.")
class PointsHistoryPage(Page[PointsEntryType]):
    pass


async def _history(
    session: AsyncSession, keys: list[int], first: int, before: int | None
) -> Mapping[int, list[PointsEntry]]:
    return await points.history(session=session, profile_ids=keys, limit=first + 1, before=before)


async def _balances(session: AsyncSession, keys: list[int]) -> Mapping[int, int]:
    return await points.current_balances(session=session, profile_ids=keys, now=utcnow())


HISTORY = by_key("points-history", _history)
BALANCES = by_key("points-balance", _balances)


@object_type("Points", description="The one points balance shared by every app.")
class PointsType:
    profile_id: strawberry.Private[int]
    balance: int = strawberry.field(description="Points that count now (expired ones do not).")

    @strawberry.field(description="Ledger entries, newest first.")
    async def history(
        self, info: Info, first: First = DEFAULT_FIRST, after: After = None
    ) -> PointsHistoryPage:
        check_first(first)
        before = decode_int(info, after, "points")
        rows = await info.context.loader(HISTORY, first, before).load(self.profile_id)
        page, page_info = page_of(info, "points", rows, first)
        items = [PointsEntryType.of(row) for row in page]
        return PointsHistoryPage(items=items, page_info=page_info)


async def points_of(info: Info, profile_id: int) -> PointsType:
    balance = await info.context.loader(BALANCES).load(profile_id)
    return PointsType(profile_id=profile_id, balance=balance)


@object_type("Coupon", description="A coupon issued to one person; amounts in fen.")
class CouponType:
    # Plain values copied from the row (the status as of when it was read).
    id: strawberry.ID = strawberry.field(description="The coupon's public id (for redeemCoupon).")
    title: str = strawberry.field(description="What the person sees, e.g. 满100减20.")
    kind: CouponKind = strawberry.field(description="An amount off, or a percentage off.")
    discount_fen: int = strawberry.field(
        description="Amount off (AMOUNT), or the most a PERCENT coupon takes off, in fen."
    )
    percent_off: int | None = strawberry.field(description="1-99 for PERCENT; null for AMOUNT.")
    min_spend_fen: int = strawberry.field(description="The least order amount it applies to, fen.")
    channels: list[Channel] = strawberry.field(
        description="Where it may be used; empty means every channel."
    )
    valid_from: datetime = strawberry.field(description="Usable from (UTC).")
    valid_until: datetime | None = strawberry.field(description="Usable until (UTC); null: no end.")
    status: CouponStatus = strawberry.field(description="As of when it was read.")
    issued_at: datetime = strawberry.field(description="When it was issued (UTC).")
    redeemed_at: datetime | None = strawberry.field(description="When it was used (UTC), if so.")
    redeemed_channel: Channel | None = strawberry.field(description="Where it was used, if so.")

    @classmethod
    def of(cls, row: Coupon, now: datetime | None = None) -> CouponType:
        return copied(
            cls,
            row,
            id=strawberry.ID(row.public_id),
            channels=[Channel(c) for c in row.channels],
            status=coupons.status_of(row, now or utcnow()),
        )


async def _coupons(
    session: AsyncSession, keys: list[int], status: CouponStatus | None
) -> Mapping[int, list[Coupon]]:
    return await coupons.coupons_of(session=session, profile_ids=keys, status=status, now=utcnow())


COUPONS = by_key("coupons", _coupons)


@object_type("CouponPage", description="One page of a person's coupons.")
class CouponPage(Page[CouponType]):
    pass


async def coupons_of(
    info: Info, profile_id: int, status: CouponStatus | None, first: int, after: str | None
) -> CouponPage:
    check_first(first)
    before = decode_int(info, after, "coupons")
    rows = await info.context.loader(COUPONS, status).load(profile_id)
    now = utcnow()
    # Newest first by id: a coupon issued while someone pages never repeats an item.
    rest = [row for row in rows if before is None or (row.id or 0) < before]
    page, page_info = page_of(info, "coupons", rest, first)
    return CouponPage(items=[CouponType.of(row, now) for row in page], page_info=page_info)


PROFILE_ID = "The public id of the person (Profile.id)."
IDEMPOTENCY_KEY = "The writer's key for this write: the same key again answers the same entry."


@strawberry.input(description="Points to add to one person's balance.")
class EarnPointsInput:
    profile_id: strawberry.ID = strawberry.field(description=PROFILE_ID)
    points: int = strawberry.field(
        description=f"How many: 1-{points.MAX_POINTS_PER_ENTRY} (adjustPoints: also negative)."
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    reason: str | None = strawberry.field(default=None, description="Why, e.g. 消费积分.")
    channel: Channel | None = strawberry.field(default=None, description="The app it happened in.")


@strawberry.input(description="Points to take from one person's balance.")
class SpendPointsInput(EarnPointsInput):
    pass


@strawberry.input(description="A correction by staff or a backend; points may be negative.")
class AdjustPointsInput(EarnPointsInput):
    pass


@strawberry.input(description="A coupon for one person.")
class IssueCouponInput:
    profile_id: strawberry.ID = strawberry.field(description=PROFILE_ID)
    title: str = strawberry.field(description="What the person sees, e.g. 满100减20.")
    discount_fen: int = strawberry.field(
        description="Amount off in fen (AMOUNT), or the most a PERCENT coupon takes off."
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY_KEY)
    kind: CouponKind = strawberry.field(
        default=CouponKind.AMOUNT, description="An amount off, or a percentage off."
    )
    percent_off: int | None = strawberry.field(
        default=None, description="1-99, for PERCENT coupons only."
    )
    min_spend_fen: int = strawberry.field(
        default=0, description="The least order amount it applies to, fen."
    )
    valid_from: datetime | None = strawberry.field(
        default=None, description="Usable from (with a UTC offset); null: now."
    )
    valid_until: datetime | None = strawberry.field(
        default=None, description="Usable until (with a UTC offset); null: no end."
    )
    channels: list[Channel] | None = strawberry.field(
        default=None, description="Where it may be used; null or empty: every channel."
    )


@strawberry.input(description="The coupon to use, and where.")
class RedeemCouponInput:
    coupon_id: strawberry.ID = strawberry.field(description="Coupon.id.")
    channel: Channel | None = strawberry.field(default=None, description="The app it is used in.")


async def _entry(info: Info, given: EarnPointsInput, kind: EntryKind, sign: int) -> PointsEntryType:
    action = f"points.{kind.value.lower()}"
    async with info.context.uow.atomic(action) as session:
        if kind is not EntryKind.ADJUST:
            points.check_positive(given.points)
        profile = await profile_by_id(session, info.context.vault, given.profile_id)
        entry = await points.record_entry(
            session=session,
            profile=profile,
            kind=kind,
            points=sign * given.points if kind is not EntryKind.ADJUST else given.points,
            idempotency_key=given.idempotency_key,
            reason=given.reason,
            channel=given.channel,
            lifetime=info.context.settings.points_lifetime,
        )
    info.context.clear_loaders()
    return PointsEntryType.of(entry)


@strawberry.type
class LoyaltyMutations:
    @strawberry.mutation(
        description="Add points; the same idempotencyKey twice adds once. Service role only."
    )
    async def earn_points(self, info: Info, input: EarnPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.EARN, 1)

    @strawberry.mutation(
        description="Take points; CONFLICT when the balance is too low. Service role only."
    )
    async def spend_points(self, info: Info, input: SpendPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.SPEND, -1)

    @strawberry.mutation(
        description="Correct a balance up or down (never below zero). Service role only."
    )
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.ADJUST, 1)

    @strawberry.mutation(
        description="Issue a coupon; the same idempotencyKey twice issues once. Service role only."
    )
    async def issue_coupon(self, info: Info, input: IssueCouponInput) -> CouponType | None:
        valid_from = input.valid_from and as_utc(input.valid_from, field="validFrom")
        valid_until = input.valid_until and as_utc(input.valid_until, field="validUntil")
        async with profile_write(info, "coupon.issue", input.profile_id) as (session, profile):
            coupon = await coupons.issue_coupon(
                session=session,
                profile=profile,
                title=input.title,
                discount_fen=input.discount_fen,
                idempotency_key=input.idempotency_key,
                kind=input.kind,
                percent_off=input.percent_off,
                min_spend_fen=input.min_spend_fen,
                valid_from=valid_from,
                valid_until=valid_until,
                channels=input.channels or (),
            )
        info.context.clear_loaders()
        return CouponType.of(coupon)

    @strawberry.mutation(
        description="Use a coupon, exactly once (again: CONFLICT). Service role only."
    )
    async def redeem_coupon(self, info: Info, input: RedeemCouponInput) -> CouponType | None:
        async with info.context.uow.atomic("coupon.redeem") as session:
            coupon = await coupons.redeem_coupon(
                session=session,
                coupon_id=input.coupon_id,
                channel=input.channel,
            )
        info.context.clear_loaders()
        return CouponType.of(coupon)
