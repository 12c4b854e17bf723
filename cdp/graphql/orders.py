"""Orders in GraphQL: a profile's `orders` with items and the (masked) shipping address, and
`recordOrder` for the services that sell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from cdp.channels import Channel
from cdp.db import as_utc
from cdp.graphql.context import Info, by_key
from cdp.graphql.lookups import key_for, keys_for, profile_write
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import Page, check_first, decode_time_and_int, page_of
from cdp.graphql.profiles import AddressInput
from cdp.graphql.sealed import AddressType
from cdp.graphql.selections import child_fields, named
from cdp.orders import queries, service
from cdp.orders.models import Order, OrderItem, OrderStatus
from cdp.orders.tiers import TierThresholds
from cdp.profiles.values import PostalAddress


@object_type("OrderItem", description="One line of an order.")
class OrderItemType:
    sku: str = strawberry.field(description="The seller's stock-keeping unit.")
    name: str = strawberry.field(description="The product's name, e.g. 拿铁 大杯.")
    quantity: int = strawberry.field(description="How many.")
    unit_price_fen: int = strawberry.field(description="Price of one, in fen.")
    amount_fen: int = strawberry.field(description="quantity x unitPriceFen, in fen.")

    @classmethod
    def of(cls, item: OrderItem) -> OrderItemType:
        return copied(cls, item, amount_fen=item.quantity * item.unit_price_fen)


_UNREAD: Any = object()


@object_type("Order", description="An order from any channel; amounts in fen.")
class OrderType:
    row: strawberry.Private[Order]

    @property
    def audit_profile_id(self) -> int | None:
        return self.row.profile_id

    # Plain values, copied from the row once: strawberry resolves a field without a resolver
    # on its fast path (no Info, no argument parsing), about half the cost of a method.
    id: strawberry.ID = strawberry.field(description="The order's public id.")
    channel: Channel = strawberry.field(description="Where it was sold.")
    external_id: str = strawberry.field(description="The selling system's order number.")
    status: OrderStatus = strawberry.field(description="Where the order stands.")
    items_fen: int = strawberry.field(description="Sum of the items' amounts, in fen.")
    discount_fen: int = strawberry.field(description="Taken off, in fen.")
    shipping_fen: int = strawberry.field(description="Shipping charged, in fen.")
    total_fen: int = strawberry.field(description="What was paid: items - discount + shipping.")
    entry_from: str | None = strawberry.field(
        description="The `from` entry parameter of the link that brought the buyer."
    )
    entry_params: JSON = strawberry.field(
        description='The other entry parameters, e.g. {"id": "123"}.'
    )
    paid_at: datetime = strawberry.field(description="When it was paid (UTC).")
    updated_at: datetime = strawberry.field(description="When its status last changed (UTC).")
    # Fetched with the page for every order when the query selects them (`with_details`).
    items: list[OrderItemType] = strawberry.field(description="The order's lines.")
    address: strawberry.Private[PostalAddress | Any | None]  # _UNREAD when not fetched

    @classmethod
    def of(
        cls, row: Order, items: list[OrderItemType] | None, address: PostalAddress | Any | None
    ) -> OrderType:
        return copied(
            cls,
            row,
            row=row,
            id=strawberry.ID(row.public_id),
            items=items,  # None only when not selected
            address=address,
        )

    @strawberry.field(
        description="Personal data: customer (own) in full; support and compliance province "
        "and city only; service FORBIDDEN (like Profile.address)."
    )
    def shipping_address(self, info: Info) -> AddressType | None:
        if self.address is not _UNREAD:
            return AddressType.of(self.address)
        return cast("AddressType | None", _read_address(info, self.row))


async def _read_address(info: Info, row: Order) -> AddressType | None:
    await key_for(info, row.shipping_address_ct)
    async with info.context.uow.session() as session:
        value = await queries.shipping_address(session=session, vault=info.context.vault, order=row)
    return AddressType.of(value)


async def _items(session: AsyncSession, keys: list[int]) -> Mapping[int, list[OrderItem]]:
    return await queries.items_of(session=session, order_ids=keys)


async def _orders(
    session: AsyncSession,
    keys: list[int],
    status: OrderStatus | None,
    first: int,
    before: tuple[datetime, int] | None,
) -> Mapping[int, list[Order]]:
    return await queries.orders_of(
        session=session, profile_ids=keys, status=status, limit=first + 1, before=before
    )


ITEMS = by_key("order-items", _items)
ORDERS = by_key("orders", _orders)


async def _load_items(info: Info, rows: Sequence[Order]) -> list[list[OrderItemType]]:
    """Items of every order in `rows`, batched with every other load of the same moment."""
    loaded = await info.context.loader(ITEMS).load_many([r.id for r in rows if r.id is not None])
    return [[OrderItemType.of(i) for i in items] for items in loaded]


async def with_details(info: Info, rows: Sequence[Order], *, paged: bool) -> list[OrderType]:
    """OrderTypes with the items and shipping addresses the query selects fetched for all of
    `rows` at once (batched with other pages of the same request), so their fields resolve
    without a coroutine and a loader call per order."""
    # Below the field being resolved (`orders`, or a mutation returning one order).
    fields = child_fields(info)
    if paged:
        fields = child_fields(info, named(fields, "items"))
    wants_items = bool(named(fields, "items"))
    wants_address = bool(named(fields, "shippingAddress"))
    items = await _load_items(info, rows) if wants_items else None
    addresses: list[Any] = [_UNREAD] * len(rows)
    if wants_address:
        await keys_for(info, [row.shipping_address_ct for row in rows])
        async with info.context.uow.session() as session:
            addresses = [
                await queries.shipping_address(session=session, vault=info.context.vault, order=r)
                for r in rows
            ]
    return [
        OrderType.of(row, items[n] if items else None, addresses[n]) for n, row in enumerate(rows)
    ]


@object_type("OrderPage", description="One page of a person's orders.")
class OrderPage(Page[OrderType]):
    pass


def _paid_at_and_id(row: Order) -> tuple[datetime, int | None]:
    return row.paid_at, row.id


async def orders_of(
    info: Info, profile_id: int, status: OrderStatus | None, first: int, after: str | None
) -> OrderPage:
    check_first(first)
    before = decode_time_and_int(info, after, "orders")
    rows = await info.context.loader(ORDERS, status, first, before).load(profile_id)
    page, page_info = page_of(info, "orders", rows, first, _paid_at_and_id)
    return OrderPage(items=await with_details(info, page, paged=True), page_info=page_info)


@strawberry.input(description="One line of an order.")
class OrderItemInput:
    sku: str = strawberry.field(description="The seller's stock-keeping unit.")
    name: str = strawberry.field(description="The product's name.")
    quantity: int = strawberry.field(description=f"How many: 1-{service.MAX_QUANTITY}.")
    unit_price_fen: int = strawberry.field(description="Price of one, in fen (0 or more).")


@strawberry.input(
    description="Recording the same (channel, externalId) again is idempotent; "
    "a later status moves the order forward."
)
class RecordOrderInput:
    profile_id: strawberry.ID = strawberry.field(description="The buyer's public profile id.")
    channel: Channel = strawberry.field(description="Where it was sold.")
    external_id: str = strawberry.field(description="The selling system's order number.")
    status: OrderStatus = strawberry.field(description="Where the order stands now.")
    items: list[OrderItemInput] = strawberry.field(description="The order's lines.")
    discount_fen: int = strawberry.field(default=0, description="Taken off, in fen.")
    shipping_fen: int = strawberry.field(default=0, description="Shipping charged, in fen.")
    paid_at: datetime | None = strawberry.field(
        default=None, description="When it was paid (with a UTC offset); null: now."
    )
    entry: str | None = strawberry.field(
        default=None, description="The link's entry parameters, e.g. from=article&id=123."
    )
    shipping_address: AddressInput | None = strawberry.field(
        default=None, description="Where it ships (sealed; masked like Profile.address)."
    )


@strawberry.type
class OrderMutations:
    @strawberry.mutation(
        description="Record an order or move it forward (idempotent by channel and "
        "externalId; a backward move is CONFLICT). Service role only."
    )
    async def record_order(self, info: Info, input: RecordOrderInput) -> OrderType | None:
        paid_at = input.paid_at
        if paid_at is not None:
            paid_at = as_utc(paid_at, field="paidAt")
        address = input.shipping_address
        given = service.OrderInput(
            channel=input.channel,
            external_id=input.external_id,
            status=input.status,
            items=[
                service.LineItem(i.sku, i.name, i.quantity, i.unit_price_fen) for i in input.items
            ],
            discount_fen=input.discount_fen,
            shipping_fen=input.shipping_fen,
            paid_at=paid_at,
            entry=input.entry,
            shipping_address=None
            if address is None
            else PostalAddress(address.province, address.city, address.district, address.street),
        )
        async with profile_write(info, "order.record", input.profile_id) as (session, profile):
            order = await service.record_order(
                session=session,
                vault=info.context.vault,
                profile=profile,
                order=given,
                tiers=TierThresholds.of(info.context.settings),
            )
        info.context.clear_loaders()
        return (await with_details(info, [order], paged=False))[0]
