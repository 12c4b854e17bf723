"""Orders and their line items. An order outlives its buyer's erasure for accounting: the
profile link is nullable, and erasure replaces it by a tombstone."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.channels import Channel
from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field


class OrderStatus(StrEnum):
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"


# Paid spend counts towards tiers; a refund takes it back.
COUNTS_AS_SPEND = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id", name="uq_orders_channel_external"),
        sa.Index("ix_orders_profile_paid", "profile_id", "paid_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()), max_length=36, unique=True, nullable=False
    )
    profile_id: int | None = Field(default=None, sa_column=profile_fk(index=False, optional=True))
    # Set by erasure: a stable, meaningless stand-in for the buyer (orders kept for accounting).
    buyer_tombstone: str | None = Field(default=None, max_length=36)
    channel: Channel = Field(sa_column=sa.Column(enum_column_type(Channel), nullable=False))
    external_id: str = Field(max_length=64, nullable=False)
    status: OrderStatus = Field(
        sa_column=sa.Column(enum_column_type(OrderStatus), nullable=False, index=True)
    )
    items_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    discount_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    shipping_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    total_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    entry_from: str | None = Field(default=None, max_length=32, index=True)
    entry_params: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    shipping_address_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    paid_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    position: int = Field(nullable=False)
    sku: str = Field(max_length=64, nullable=False)
    name: str = Field(max_length=100, nullable=False)
    quantity: int = Field(nullable=False)
    unit_price_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
