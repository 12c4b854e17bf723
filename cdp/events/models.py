"""The event table: one row per event id, whatever number of times it was sent.

On PostgreSQL it is partitioned by month of `occurred_at` (cdp.partitions, migration 0025):
its primary key is (profile_id, occurred_at, id) there, and the event id is unique in
`event_keys` (cdp.events.keys) instead of here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.channels import Channel
from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_profile_occurred", "profile_id", "occurred_at"),)

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    )
    event_id: str = Field(max_length=64, unique=True, nullable=False)
    profile_id: int = Field(sa_column=profile_fk(index=False))
    type: str = Field(max_length=64, index=True, nullable=False)
    channel: Channel = Field(sa_column=sa.Column(enum_column_type(Channel), nullable=False))
    app_id: str | None = Field(default=None, max_length=64)
    entry_from: str | None = Field(default=None, max_length=32, index=True)
    entry_params: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    occurred_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))
    received_at: datetime = timestamp_field()
