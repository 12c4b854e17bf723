"""Campaigns: one template to an audience's members at a chosen time, throttled. Members are
queued in profile-id order from `position`, a batch per worker round, so a campaign stopped
anywhere resumes where it was without queueing anyone twice (the keys are per person)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, enum_column_type, timestamp_field


class CampaignStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"  # members being queued
    QUEUED = "QUEUED"  # every member decided and queued; the outbox sends
    CANCELLED = "CANCELLED"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, nullable=False)
    template: str = Field(max_length=64, nullable=False)
    audience: str = Field(max_length=64, nullable=False)
    starts_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    per_minute: int = Field(nullable=False)  # sends a minute at most
    status: CampaignStatus = Field(
        default=CampaignStatus.SCHEDULED,
        sa_column=sa.Column(enum_column_type(CampaignStatus), nullable=False),
    )
    position: int = Field(default=0, nullable=False)  # the last profile id queued
    queued: int = Field(default=0, nullable=False)  # members decided so far
    created_by: str = Field(max_length=128, nullable=False)
    created_at: datetime = timestamp_field()
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


CAMPAIGNS: sa.Table = Campaign.__table__  # type: ignore[attr-defined]
