"""Tables of the points ledger (append-only), the lots it spends from, and coupons."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.channels import Channel
from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field
from cdp.text import IDEMPOTENCY_KEY_MAX


class EntryKind(StrEnum):
    EARN = "EARN"
    SPEND = "SPEND"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"


class PointsEntry(SQLModel, table=True):
    """One movement of points; never updated or deleted (but by erasure)."""

    __tablename__ = "points_ledger"

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    kind: EntryKind = Field(sa_column=sa.Column(enum_column_type(EntryKind), nullable=False))
    points: int = Field(nullable=False)  # signed: what this entry adds to the balance
    balance_after: int = Field(nullable=False)
    reason: str | None = Field(default=None, max_length=200)
    channel: Channel | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(Channel), nullable=True)
    )
    idempotency_key: str = Field(max_length=IDEMPOTENCY_KEY_MAX, unique=True, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    created_at: datetime = timestamp_field()


class PointsLot(SQLModel, table=True):
    """Points earned together and expiring together; spends take from the soonest-expiring."""

    __tablename__ = "points_lots"

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    entry_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("points_ledger.id", ondelete="CASCADE"), nullable=False
        )
    )
    remaining: int = Field(nullable=False)
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))


class CouponKind(StrEnum):
    AMOUNT = "AMOUNT"  # discountFen off
    PERCENT = "PERCENT"  # percentOff, at most discountFen


class Coupon(SQLModel, table=True):
    __tablename__ = "coupons"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()), max_length=36, unique=True, nullable=False
    )
    profile_id: int = Field(sa_column=profile_fk())
    title: str = Field(max_length=100, nullable=False)
    kind: CouponKind = Field(sa_column=sa.Column(enum_column_type(CouponKind), nullable=False))
    discount_fen: int = Field(nullable=False)
    percent_off: int | None = Field(default=None)
    min_spend_fen: int = Field(default=0, nullable=False)
    channels: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    valid_from: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    idempotency_key: str = Field(max_length=IDEMPOTENCY_KEY_MAX, unique=True, nullable=False)
    issued_at: datetime = timestamp_field()
    redeemed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    redeemed_channel: Channel | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(Channel), nullable=True)
    )
