"""Reading orders: a profile's newest orders, their line items and the sealed shipping
address, for many profiles or orders at once (the DataLoaders and the export)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.batches import all_per_owner, newest_per_owner
from cdp.keys.vault import Vault
from cdp.orders.models import Order, OrderItem, OrderStatus
from cdp.profiles.values import PostalAddress


async def items_of(
    *, session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[OrderItem]]:
    """Each order's line items, in the order they were recorded."""
    owner, order = col(OrderItem.order_id), (col(OrderItem.position),)
    return await all_per_owner(session, OrderItem, owner=owner, owners=order_ids, order=order)


async def orders_of(
    *,
    session: AsyncSession,
    profile_ids: Sequence[int],
    status: OrderStatus | None,
    limit: int,
    before: tuple[datetime, int] | None,
) -> dict[int, list[Order]]:
    """Newest orders first (by payment time), up to `limit` per profile."""
    where = []
    if status is not None:
        where.append(col(Order.status) == status)
    if before is not None:
        where.append(sa.tuple_(col(Order.paid_at), col(Order.id)) < before)
    return await newest_per_owner(
        session,
        Order,
        owner=col(Order.profile_id),
        owners=profile_ids,
        newest_first=(col(Order.paid_at).desc(), col(Order.id).desc()),
        limit=limit,
        where=where,
    )


async def shipping_address(
    *, session: AsyncSession, vault: Vault, order: Order
) -> PostalAddress | None:
    if order.shipping_address_ct is None or order.id is None:
        return None
    text = await vault.decrypt(
        session,
        order.shipping_address_ct,
        table="orders",
        column="shipping_address_ct",
        row_id=order.id,
    )
    return PostalAddress.from_json(text)
