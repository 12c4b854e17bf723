"""Audience definitions and the history of their memberships. The members themselves are
`profile_tags` rows of source RULE carrying the audience's name."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field
from cdp.tags.models import TAG_MAX

DESCRIPTION_MAX = 500


class Audience(SQLModel, table=True):
    """A named condition tree. `version` counts definitions; the members follow the version
    `refreshed_version` was computed for (behind it, the updater refreshes them in full)."""

    __tablename__ = "audiences"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=TAG_MAX, unique=True, nullable=False)
    description: str = Field(default="", max_length=DESCRIPTION_MAX, nullable=False)
    definition: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    version: int = Field(default=1, nullable=False)
    refreshed_version: int | None = Field(default=None)
    member_count: int = Field(default=0, nullable=False)
    created_by: str = Field(max_length=128, nullable=False)
    updated_by: str = Field(max_length=128, nullable=False)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    refreshed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


class Change(StrEnum):
    ENTERED = "ENTERED"
    LEFT = "LEFT"


class Why(StrEnum):
    MATCHES = "MATCHES"  # the definition holds for the person
    NO_LONGER_MATCHES = "NO_LONGER_MATCHES"
    EXCLUDED = "EXCLUDED"  # erased, or an identifier on the suppression list


class Trigger(StrEnum):
    REFRESH = "REFRESH"  # a full refresh (`cdp audiences refresh`, a new definition)
    UPDATE = "UPDATE"  # the person's behaviour changed (the queue)


class MembershipChange(SQLModel, table=True):
    """A person entering or leaving an audience, when and why: what activation triggers on,
    in `id` order. `run_id` names the refresh or update that made the change."""

    __tablename__ = "audience_membership_changes"
    __table_args__ = (
        sa.Index("ix_audience_changes_audience_id", "audience_id", "id"),
        sa.Index("ix_audience_changes_run", "run_id", "audience_id", "change"),
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    )
    audience_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("audiences.id", ondelete="CASCADE"), nullable=False
        )
    )
    profile_id: int = Field(sa_column=profile_fk())
    change: Change = Field(sa_column=sa.Column(enum_column_type(Change), nullable=False))
    why: Why = Field(sa_column=sa.Column(enum_column_type(Why), nullable=False))
    trigger: Trigger = Field(sa_column=sa.Column(enum_column_type(Trigger), nullable=False))
    version: int = Field(nullable=False)
    run_id: str = Field(max_length=32, nullable=False)
    at: datetime = timestamp_field()


AUDIENCES: sa.Table = Audience.__table__  # type: ignore[attr-defined]
CHANGES: sa.Table = MembershipChange.__table__  # type: ignore[attr-defined]
