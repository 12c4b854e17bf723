"""Recording orders from every channel: idempotent by (channel, external id), status moving
only forward, the shipping address sealed like the profile's, tiers kept in step. Reading
them is `cdp.orders.queries`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.channels import APP_CHANNELS, Channel
from cdp.db import lock_names, utcnow
from cdp.errors import bad_input, conflict
from cdp.idempotency import record_replay
from cdp.keys.vault import Vault
from cdp.orders.entry import parse_entry
from cdp.orders.models import Order, OrderItem, OrderStatus
from cdp.orders.queries import items_of
from cdp.orders.tiers import TierThresholds, recompute_tier
from cdp.outbox import events
from cdp.profiles.merge import Merge, reassign_rows
from cdp.profiles.models import Profile
from cdp.profiles.service import clean_address
from cdp.profiles.values import PostalAddress, clean_identifier
from cdp.reevaluation import note as reevaluate
from cdp.text import clean_text

MAX_FEN = 2**31 - 1  # ¥21,474,836.47: GraphQL's Int, and far beyond any one order
MAX_ITEMS = 100  # the API refuses longer lists anyway (CDP_MAX_LIST_ITEMS)
MAX_QUANTITY = 10_000
CLOCK_SKEW = timedelta(minutes=5)
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.REFUNDED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.COMPLETED, OrderStatus.REFUNDED}),
    OrderStatus.COMPLETED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.REFUNDED: frozenset(),
}


@dataclass(frozen=True)
class LineItem:
    sku: str
    name: str
    quantity: int
    unit_price_fen: int


@dataclass(frozen=True)
class OrderInput:
    channel: Channel
    external_id: str
    status: OrderStatus
    items: Sequence[LineItem]
    discount_fen: int = 0
    shipping_fen: int = 0
    paid_at: datetime | None = None
    entry: str | None = None
    shipping_address: PostalAddress | None = None


def _fen(value: int, name: str) -> int:
    if not 0 <= value <= MAX_FEN:
        raise bad_input(f"{name} must be 0-{MAX_FEN} fen", field=name)
    return value


def _clean_items(items: Sequence[LineItem]) -> list[LineItem]:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise bad_input(f"an order has 1-{MAX_ITEMS} items", field="items")
    cleaned = []
    for n, item in enumerate(items):
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise bad_input(f"quantity must be 1-{MAX_QUANTITY}", field=f"items.{n}.quantity")
        cleaned.append(
            LineItem(
                sku=clean_text(item.sku, field=f"items.{n}.sku", max_length=64),
                name=clean_text(item.name, field=f"items.{n}.name", max_length=100),
                quantity=item.quantity,
                unit_price_fen=_fen(item.unit_price_fen, f"items.{n}.unitPriceFen"),
            )
        )
    return cleaned


def _same_terms(
    order: Order,
    items: list[OrderItem],
    given: OrderInput,
    paid_at: datetime,
    entry: tuple[str | None, dict[str, str]],
    lines: list[LineItem],
) -> bool:
    stored = [LineItem(i.sku, i.name, i.quantity, i.unit_price_fen) for i in items]
    return (
        stored == lines
        and (order.discount_fen, order.shipping_fen) == (given.discount_fen, given.shipping_fen)
        and (given.paid_at is None or order.paid_at == paid_at)
        and (order.entry_from, order.entry_params) == entry
    )


# Built once: building a statement costs about what running it does.
_ORDER_BY_KEY = sa.select(Order).where(
    col(Order.channel) == sa.bindparam("channel"),
    col(Order.external_id) == sa.bindparam("external_id"),
)


async def record_order(
    *,
    session: AsyncSession,
    vault: Vault,
    profile: Profile,
    order: OrderInput,
    tiers: TierThresholds,
    now: datetime | None = None,
) -> Order:
    """Record an order, or replay it: the same (channel, external id) with the same terms
    changes nothing but may move the status forward; anything else is CONFLICT."""
    assert profile.id is not None
    now = now or utcnow()
    if order.channel not in APP_CHANNELS:
        raise bad_input(f"{order.channel.value} does not take orders", field="channel")
    external_id = clean_identifier(order.external_id, field="externalId")
    lines = _clean_items(order.items)
    items_fen = sum(item.quantity * item.unit_price_fen for item in lines)
    discount = _fen(order.discount_fen, "discountFen")
    shipping = _fen(order.shipping_fen, "shippingFen")
    total = items_fen - discount + shipping
    if items_fen > MAX_FEN:
        raise bad_input(f"the items come to more than {MAX_FEN} fen", field="items")
    if not 0 <= total <= MAX_FEN:
        raise bad_input("the discount exceeds what the order costs", field="discountFen")
    paid_at = order.paid_at or now
    if paid_at > now + CLOCK_SKEW:
        raise bad_input("paidAt is in the future", field="paidAt")
    entry = parse_entry(order.entry)
    address = (
        None
        if order.shipping_address is None
        else clean_address(order.shipping_address, field="shippingAddress")
    )

    await lock_names(session, [("order", order.channel.value, external_id)])
    existing = await session.scalar(
        _ORDER_BY_KEY, {"channel": order.channel, "external_id": external_id}
    )
    if existing is not None:
        await _replay(session, existing, order, profile, paid_at, entry, lines, now)
    else:
        existing = Order(
            profile_id=profile.id,
            channel=order.channel,
            external_id=external_id,
            status=order.status,
            items_fen=items_fen,
            discount_fen=discount,
            shipping_fen=shipping,
            total_fen=total,
            entry_from=entry[0],
            entry_params=entry[1],
            paid_at=paid_at,
            created_at=now,
            updated_at=now,
        )
        session.add(existing)
        await session.flush()
        assert existing.id is not None
        items: sa.Table = OrderItem.__table__  # type: ignore[attr-defined]
        await session.execute(  # one executemany, however many lines
            sa.insert(items),
            [
                {
                    "order_id": existing.id,
                    "position": n,
                    "sku": i.sku,
                    "name": i.name,
                    "quantity": i.quantity,
                    "unit_price_fen": i.unit_price_fen,
                }
                for n, i in enumerate(lines)
            ],
        )
        if address is not None:
            existing.shipping_address_ct = await vault.encrypt(
                session,
                address.to_json(),
                profile_id=profile.id,
                table="orders",
                column="shipping_address_ct",
                row_id=existing.id,
            )
        await session.flush()
        detail = {"order": existing.public_id, "status": order.status.value, "totalFen": total}
        audit.record(session, action="order.record", profile_id=profile.id, detail=detail)
        await _note_status(session, existing, profile, None)
    await recompute_tier(session=session, profile=profile, thresholds=tiers, now=now)
    reevaluate(session, [profile.id, existing.profile_id])
    return existing


async def _replay(
    session: AsyncSession,
    existing: Order,
    given: OrderInput,
    profile: Profile,
    paid_at: datetime,
    entry: tuple[str | None, dict[str, str]],
    lines: list[LineItem],
    now: datetime,
) -> None:
    if existing.profile_id != profile.id:
        raise conflict("this channel's externalId is already recorded for another person")
    items = (await items_of(session=session, order_ids=[existing.id or 0]))[existing.id or 0]
    if not _same_terms(existing, items, given, paid_at, entry, lines):
        raise conflict("this order was recorded with different items, amounts or time")
    if given.status is existing.status:
        detail = {"order": existing.public_id}
        record_replay(session, action="order.record", profile_id=profile.id, detail=detail)
        return
    if given.status not in TRANSITIONS[existing.status]:
        raise conflict(f"an order cannot go from {existing.status.value} to {given.status.value}")
    detail = {"order": existing.public_id, "from": existing.status.value, "to": given.status.value}
    audit.record(session, action="order.status", profile_id=profile.id, detail=detail)
    previous = existing.status
    existing.status = given.status
    existing.updated_at = now
    await session.flush()
    await _note_status(session, existing, profile, previous)


async def _note_status(
    session: AsyncSession, order: Order, profile: Profile, previous: OrderStatus | None
) -> None:
    # For activation's triggers (order paid, shipped, completed) and the brand's webhooks.
    await events.note(
        session,
        event=events.ORDER_STATUS_CHANGED,
        key=f"{order.public_id}:{order.status.value}",
        data={
            "profileId": profile.public_id,
            "order": order.public_id,
            "orderNo": order.external_id,
            "status": order.status.value,
            "from": None if previous is None else previous.value,
            "totalFen": order.total_fen,
        },
        subject=profile.id,
    )


async def move_orders(merge: Merge) -> int:
    """Orders move (their sealed addresses stay readable: the loser's data keys move too);
    the survivor's tier then counts both people's spend."""
    moved = await reassign_rows(merge, Order)
    await recompute_tier(
        session=merge.session,
        profile=merge.survivor,
        thresholds=TierThresholds.of(merge.settings),
        now=utcnow(),
    )
    return moved
