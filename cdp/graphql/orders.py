"""Orders in GraphQL: a profile's `orders` with items and the (masked) shipping address, and
`recordOrder` for the services that sell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from cdp.channels import Channel
from cdp.db import as_utc
from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.lookups import key_for, profile_by_id
from cdp.graphql.pages import PageInfo, check_first, decode_cursor, encode_cursor
from cdp.graphql.profiles import AddressInput, AddressType
from cdp.orders import service
from cdp.orders.models import Order, OrderItem, OrderStatus
from cdp.orders.tiers import TierThresholds
from cdp.profiles.values import PostalAddress


@strawberry.type(name="OrderItem")
class OrderItemType:
    sku: str
    name: str
    quantity: int
    unit_price_fen: int

    @strawberry.field
    def amount_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@strawberry.type(name="Order", description="An order from any channel; amounts in fen.")
class OrderType:
    row: strawberry.Private[Order]

    @property
    def audit_profile_id(self) -> int | None:
        return self.row.profile_id

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.public_id)

    @strawberry.field
    def channel(self) -> Channel:
        return self.row.channel

    @strawberry.field
    def external_id(self) -> str:
        return self.row.external_id

    @strawberry.field
    def status(self) -> OrderStatus:
        return self.row.status

    @strawberry.field
    def items_fen(self) -> int:
        return self.row.items_fen

    @strawberry.field
    def discount_fen(self) -> int:
        return self.row.discount_fen

    @strawberry.field
    def shipping_fen(self) -> int:
        return self.row.shipping_fen

    @strawberry.field
    def total_fen(self) -> int:
        return self.row.total_fen

    @strawberry.field(description="The `from` entry parameter of the link that brought the buyer.")
    def entry_from(self) -> str | None:
        return self.row.entry_from

    @strawberry.field(description='The other entry parameters, e.g. {"id": "123"}.')
    def entry_params(self) -> JSON:
        return self.row.entry_params  # type: ignore[return-value]

    @strawberry.field
    def paid_at(self) -> datetime:
        return self.row.paid_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItemType]:
        async def load(keys: Sequence[int]) -> list[list[OrderItem]]:
            async with info.context.uow.session() as session:
                found = await service.items_of(session=session, order_ids=list(keys))
            return [found[key] for key in keys]

        rows: list[OrderItem] = await info.context.loader("order-items", load).load(self.row.id)
        return [
            OrderItemType(
                sku=i.sku, name=i.name, quantity=i.quantity, unit_price_fen=i.unit_price_fen
            )
            for i in rows
        ]

    @strawberry.field(description="Personal data: masked like the profile's address.")
    async def shipping_address(self, info: Info) -> AddressType | None:
        await key_for(info, self.row.shipping_address_ct)
        async with info.context.uow.session() as session:
            value = await service.shipping_address(
                session=session, vault=info.context.vault, order=self.row
            )
        return AddressType.of(value)


@strawberry.type
class OrderPage:
    items: list[OrderType]
    page_info: PageInfo


async def orders_of(
    info: Info, profile_id: int, status: OrderStatus | None, first: int, after: str | None
) -> OrderPage:
    check_first(first)
    cursor = decode_cursor(after, "orders", 2)
    try:
        before = (datetime.fromisoformat(cursor[0]), int(cursor[1])) if cursor else None
    except (TypeError, ValueError):
        raise bad_input("after is not a cursor from this list", field="after") from None

    async def load(keys: Sequence[int]) -> list[list[Order]]:
        async with info.context.uow.session() as session:
            found = await service.orders_of(
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
        items=[OrderType(row=row) for row in page],
        page_info=PageInfo(
            end_cursor=encode_cursor("orders", last.paid_at.isoformat(), last.id) if last else None,
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
            paid_at = as_utc(paid_at)
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
                actor=info.context.principal,
                profile=profile,
                order=given,
                tiers=TierThresholds.of(info.context.settings),
            )
        info.context.clear_loaders()
        return OrderType(row=order)
