"""Points and coupons in GraphQL: the `points` and `coupons` of a profile, and the service
mutations that earn, spend, adjust, issue and redeem."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from cdp.channels import Channel
from cdp.db import as_utc, utcnow
from cdp.graphql.context import Info
from cdp.graphql.lookups import profile_by_id
from cdp.graphql.pages import DEFAULT_FIRST, PageInfo, check_first, decode_int, encode_cursor
from cdp.loyalty import coupons, points
from cdp.loyalty.coupons import CouponStatus
from cdp.loyalty.models import Coupon, CouponKind, EntryKind, PointsEntry


@strawberry.type(name="PointsEntry", description="One movement of points in the ledger.")
class PointsEntryType:
    # Plain values copied from the row: strawberry resolves them on its fast path.
    id: strawberry.ID
    kind: EntryKind
    points: int = strawberry.field(description="Signed: what this entry added to the balance.")
    balance_after: int
    reason: str | None
    channel: Channel | None
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="When earned points stop counting.")

    @classmethod
    def of(cls, row: PointsEntry) -> PointsEntryType:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            points=row.points,
            balance_after=row.balance_after,
            reason=row.reason,
            channel=row.channel,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@strawberry.type
class PointsHistoryPage:
    items: list[PointsEntryType]
    page_info: PageInfo


@strawberry.type(name="Points", description="The one balance shared by every app.")
class PointsType:
    profile_id: strawberry.Private[int]
    balance: int

    @strawberry.field(description="Ledger entries, newest first.")
    async def history(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> PointsHistoryPage:
        check_first(first)
        before = decode_int(info, after, "points")

        async def load(keys: Sequence[int]) -> list[list[PointsEntry]]:
            async with info.context.uow.session() as session:
                rows = await points.history(
                    session=session, profile_ids=list(keys), limit=first + 1, before=before
                )
            return [rows[key] for key in keys]

        loader = info.context.loader(f"points-history:{first}:{before}", load)
        rows: list[PointsEntry] = await loader.load(self.profile_id)
        page = rows[:first]
        return PointsHistoryPage(
            items=[PointsEntryType.of(row) for row in page],
            page_info=PageInfo(
                end_cursor=encode_cursor(info, "points", page[-1].id) if page else None,
                has_next_page=len(rows) > first,
            ),
        )


async def points_of(info: Info, profile_id: int) -> PointsType:
    async def load(keys: Sequence[int]) -> list[int]:
        async with info.context.uow.session() as session:
            found = await points.current_balances(
                session=session, profile_ids=list(keys), now=utcnow()
            )
        return [found[key] for key in keys]

    balance: int = await info.context.loader("points-balance", load).load(profile_id)
    return PointsType(profile_id=profile_id, balance=balance)


@strawberry.type(name="Coupon")
class CouponType:
    # Plain values copied from the row (the status as of when it was read).
    id: strawberry.ID
    title: str
    kind: CouponKind
    discount_fen: int = strawberry.field(
        description="Amount off (AMOUNT), or the most a PERCENT coupon takes off."
    )
    percent_off: int | None
    min_spend_fen: int
    channels: list[Channel] = strawberry.field(
        description="Where it may be used; empty means every channel."
    )
    valid_from: datetime
    valid_until: datetime | None
    status: CouponStatus
    issued_at: datetime
    redeemed_at: datetime | None
    redeemed_channel: Channel | None

    @classmethod
    def of(cls, row: Coupon, now: datetime | None = None) -> CouponType:
        return cls(
            id=strawberry.ID(row.public_id),
            title=row.title,
            kind=row.kind,
            discount_fen=row.discount_fen,
            percent_off=row.percent_off,
            min_spend_fen=row.min_spend_fen,
            channels=[Channel(c) for c in row.channels],
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            status=coupons.status_of(row, now or utcnow()),
            issued_at=row.issued_at,
            redeemed_at=row.redeemed_at,
            redeemed_channel=row.redeemed_channel,
        )


@strawberry.type
class CouponPage:
    items: list[CouponType]
    page_info: PageInfo


async def coupons_of(
    info: Info, profile_id: int, status: CouponStatus | None, first: int, after: str | None
) -> CouponPage:
    check_first(first)
    before = decode_int(info, after, "coupons")

    async def load(keys: Sequence[int]) -> list[list[Coupon]]:
        async with info.context.uow.session() as session:
            found = await coupons.coupons_of(
                session=session, profile_ids=list(keys), status=status, now=utcnow()
            )
        return [found[key] for key in keys]

    rows: list[Coupon] = await info.context.loader(f"coupons:{status}", load).load(profile_id)
    now = utcnow()
    # Newest first by id: a coupon issued while someone pages never repeats an item.
    rest = [row for row in rows if before is None or (row.id or 0) < before]
    page = rest[:first]
    return CouponPage(
        items=[CouponType.of(row, now) for row in page],
        page_info=PageInfo(
            end_cursor=encode_cursor(info, "coupons", page[-1].id) if page else None,
            has_next_page=len(rest) > first,
        ),
    )


@strawberry.input
class EarnPointsInput:
    profile_id: strawberry.ID
    points: int
    idempotency_key: str
    reason: str | None = None
    channel: Channel | None = None


@strawberry.input
class SpendPointsInput(EarnPointsInput):
    pass


@strawberry.input(description="A correction by staff or a backend; points may be negative.")
class AdjustPointsInput(EarnPointsInput):
    pass


@strawberry.input
class IssueCouponInput:
    profile_id: strawberry.ID
    title: str
    discount_fen: int
    idempotency_key: str
    kind: CouponKind = CouponKind.AMOUNT
    percent_off: int | None = None
    min_spend_fen: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    channels: list[Channel] | None = None


@strawberry.input
class RedeemCouponInput:
    coupon_id: strawberry.ID
    channel: Channel | None = None


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
    @strawberry.mutation(description="Add points; the same idempotencyKey twice adds once.")
    async def earn_points(self, info: Info, input: EarnPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.EARN, 1)

    @strawberry.mutation(description="Take points; CONFLICT when the balance is too low.")
    async def spend_points(self, info: Info, input: SpendPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.SPEND, -1)

    @strawberry.mutation(description="Correct a balance up or down (never below zero).")
    async def adjust_points(self, info: Info, input: AdjustPointsInput) -> PointsEntryType | None:
        return await _entry(info, input, EntryKind.ADJUST, 1)

    @strawberry.mutation
    async def issue_coupon(self, info: Info, input: IssueCouponInput) -> CouponType | None:
        valid_from = input.valid_from and as_utc(input.valid_from, field="validFrom")
        valid_until = input.valid_until and as_utc(input.valid_until, field="validUntil")
        async with info.context.uow.atomic("coupon.issue") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
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

    @strawberry.mutation(description="Use a coupon, exactly once.")
    async def redeem_coupon(self, info: Info, input: RedeemCouponInput) -> CouponType | None:
        async with info.context.uow.atomic("coupon.redeem") as session:
            coupon = await coupons.redeem_coupon(
                session=session,
                coupon_id=input.coupon_id,
                channel=input.channel,
            )
        info.context.clear_loaders()
        return CouponType.of(coupon)
