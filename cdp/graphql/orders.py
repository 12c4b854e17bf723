"""Orders in GraphQL: a profile's `orders` with items and the (masked) shipping address, and
`recordOrder` for the services that sell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from cdp.channels import Channel
from cdp.db import as_utc
from cdp.graphql.context import Info
from cdp.graphql.lookups import key_for, keys_for, profile_by_id
from cdp.graphql.pages import PageInfo, check_first, decode_time_and_int, encode_cursor
from cdp.graphql.profiles import AddressInput
from cdp.graphql.sealed import AddressType
from cdp.graphql.selections import child_fields, named
from cdp.orders import queries, service
from cdp.orders.models import Order, OrderItem, OrderStatus
from cdp.orders.tiers import TierThresholds
from cdp.profiles.values import PostalAddress


@strawberry.type(name="OrderItem")
class OrderItemType:
    sku: str
    name: str
    quantity: int
    unit_price_fen: int
    amount_fen: int

    @classmethod
    def of(cls, item: OrderItem) -> OrderItemType:
        return cls(
            sku=item.sku,
            name=item.name,
            quantity=item.quantity,
            unit_price_fen=item.unit_price_fen,
            amount_fen=item.quantity * item.unit_price_fen,
        )


_UNREAD: Any = object()


@strawberry.type(name="Order", description="An order from any channel; amounts in fen.")
class OrderType:
    row: strawberry.Private[Order]

    @property
    def audit_profile_id(self) -> int | None:
        return self.row.profile_id

    # Plain values, copied from the row once: strawberry resolves a field without a resolver
    # on its fast path (no Info, no argument parsing), about half the cost of a method.
    id: strawberry.ID
    channel: Channel
    external_id: str
    status: OrderStatus
    items_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    entry_from: str | None = strawberry.field(
        description="The `from` entry parameter of the link that brought the buyer."
    )
    entry_params: JSON = strawberry.field(
        description='The other entry parameters, e.g. {"id": "123"}.'
    )
    paid_at: datetime
    updated_at: datetime
    # Fetched with the page for every order when the query selects them (`with_details`).
    items: list[OrderItemType]
    address: strawberry.Private[PostalAddress | Any | None]  # _UNREAD when not fetched

    @classmethod
    def of(
        cls, row: Order, items: list[OrderItemType] | None, address: PostalAddress | Any | None
    ) -> OrderType:
        return cls(
            row=row,
            id=strawberry.ID(row.public_id),
            channel=row.channel,
            external_id=row.external_id,
            status=row.status,
            items_fen=row.items_fen,
            discount_fen=row.discount_fen,
            shipping_fen=row.shipping_fen,
            total_fen=row.total_fen,
            entry_from=row.entry_from,
            entry_params=row.entry_params,  # type: ignore[arg-type]
            paid_at=row.paid_at,
            updated_at=row.updated_at,
            items=items,  # type: ignore[arg-type]  # None only when not selected
            address=address,
        )

    @strawberry.field(description="Personal data: masked like the profile's address.")
    def shipping_address(self, info: Info) -> AddressType | None:
        if self.address is not _UNREAD:
            return AddressType.of(self.address)
        return cast("AddressType | None", _read_address(info, self.row))


async def _read_address(info: Info, row: Order) -> AddressType | None:
    await key_for(info, row.shipping_address_ct)
    async with info.context.uow.session() as session:
        value = await queries.shipping_address(session=session, vault=info.context.vault, order=row)
    return AddressType.of(value)


async def _load_items(info: Info, rows: Sequence[Order]) -> list[list[OrderItemType]]:
    """Items of every order in `rows`, batched with every other load of the same moment."""

    async def load(keys: Sequence[int]) -> list[list[OrderItem]]:
        async with info.context.uow.session() as session:
            found = await queries.items_of(session=session, order_ids=list(keys))
        return [found[key] for key in keys]

    loaded = await info.context.loader("order-items", load).load_many([r.id for r in rows])
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


@strawberry.type
class OrderPage:
    items: list[OrderType]
    page_info: PageInfo


async def orders_of(
    info: Info, profile_id: int, status: OrderStatus | None, first: int, after: str | None
) -> OrderPage:
    check_first(first)
    before = decode_time_and_int(info, after, "orders")

    async def load(keys: Sequence[int]) -> list[list[Order]]:
        async with info.context.uow.session() as session:
            found = await queries.orders_of(
                session=session,
                profile_ids=list(keys),
                status=status,
                limit=first + 1,
                before=before,
            )
        return [found[key] for key in keys]

    loader = info.context.loader(f"orders:{status}:{first}:{after}", load)
    rows: list[Order] = await loader.load(profile_id)
    page = rows[:first]
    last = page[-1] if page else None
    return OrderPage(
        items=await with_details(info, page, paged=True),
        page_info=PageInfo(
            end_cursor=(encode_cursor(info, "orders", last.paid_at, last.id) if last else None),
            has_next_page=len(rows) > first,
        ),
    )


@strawberry.input
class OrderItemInput:
    sku: str
    name: str
    quantity: int
    unit_price_fen: int


@strawberry.input(
    description="Recording the same (channel, externalId) again is idempotent; "
    "a later status moves the order forward."
)
class RecordOrderInput:
    profile_id: strawberry.ID
    channel: Channel
    external_id: str
    status: OrderStatus
    items: list[OrderItemInput]
    discount_fen: int = 0
    shipping_fen: int = 0
    paid_at: datetime | None = None
    entry: str | None = strawberry.field(
        default=None, description="The link's entry parameters, e.g. from=article&id=123."
    )
    shipping_address: AddressInput | None = None


@strawberry.type
class OrderMutations:
    @strawberry.mutation
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
        async with info.context.uow.atomic("order.record") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            order = await service.record_order(
                session=session,
                vault=info.context.vault,
                profile=profile,
                order=given,
                tiers=TierThresholds.of(info.context.settings),
            )
        info.context.clear_loaders()
        return (await with_details(info, [order], paged=False))[0]
