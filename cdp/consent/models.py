"""Consent state (one row per profile, purpose and channel), its append-only history, and
the contacts sent (for frequency caps enforced in the database, across every instance)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.channels import Channel
from cdp.columns import enum_column_type, profile_fk, timestamp_field


class ConsentPurpose(StrEnum):
    MARKETING = "MARKETING"
    ACTIVITY_NOTIFICATIONS = "ACTIVITY_NOTIFICATIONS"
    PERSONALIZATION = "PERSONALIZATION"
    ANALYTICS = "ANALYTICS"


# Without a recorded choice: marketing and personalisation need an opt-in; service
# notifications about the person's own activity and de-identified analytics are on until
# switched off.
DEFAULT_GRANTED: dict[ConsentPurpose, bool] = {
    ConsentPurpose.MARKETING: False,
    ConsentPurpose.ACTIVITY_NOTIFICATIONS: True,
    ConsentPurpose.PERSONALIZATION: False,
    ConsentPurpose.ANALYTICS: True,
}


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    __table_args__ = (
        sa.UniqueConstraint("profile_id", "purpose", "channel", name="uq_consents_choice"),
    )

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    purpose: ConsentPurpose = Field(
        sa_column=sa.Column(enum_column_type(ConsentPurpose), nullable=False)
    )
    channel: Channel = Field(sa_column=sa.Column(enum_column_type(Channel), nullable=False))
    granted: bool = Field(nullable=False)
    notice_version: str | None = Field(default=None, max_length=32)
    source_channel: Channel | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(Channel), nullable=True)
    )
    updated_at: datetime = timestamp_field()


class ConsentChange(SQLModel, table=True):
    """One choice as made: `channel` null means every channel. Never updated."""

    __tablename__ = "consent_history"

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    purpose: ConsentPurpose = Field(
        sa_column=sa.Column(enum_column_type(ConsentPurpose), nullable=False)
    )
    channel: Channel | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(Channel), nullable=True)
    )
    granted: bool = Field(nullable=False)
    notice_version: str | None = Field(default=None, max_length=32)
    source_channel: Channel | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(Channel), nullable=True)
    )
    changed_by: str = Field(max_length=128, nullable=False)
    changed_at: datetime = timestamp_field()


class Contact(SQLModel, table=True):
    """A contact sent. On PostgreSQL partitioned by month of `sent_at` (cdp.partitions): the
    primary key is (profile_id, sent_at, id) and `idempotency_key` a plain index there (each key
    is serialised by record_contact; activation's are the outbox's unique keys)."""

    __tablename__ = "contacts"
    __table_args__ = (sa.Index("ix_contacts_cap", "profile_id", "purpose", "channel", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk(index=False))
    purpose: ConsentPurpose = Field(
        sa_column=sa.Column(enum_column_type(ConsentPurpose), nullable=False)
    )
    channel: Channel = Field(sa_column=sa.Column(enum_column_type(Channel), nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=128, unique=True)
    sent_at: datetime = timestamp_field()


def current_states(rows: Mapping[tuple[ConsentPurpose, Channel], Any]) -> list[dict[str, Any]]:
    """A person's consent for every purpose and channel, given their rows by (purpose,
    channel): the row's choice where one was made, else the purpose's default, not explicit."""
    return [_state(p, c, rows.get((p, c))) for p in ConsentPurpose for c in Channel]


def _state(purpose: ConsentPurpose, channel: Channel, row: Any) -> dict[str, Any]:
    if row is None:
        return {
            "purpose": purpose,
            "channel": channel,
            "granted": DEFAULT_GRANTED[purpose],
            "explicit": False,
            "notice_version": None,
            "source_channel": None,
            "updated_at": None,
        }
    return {
        "purpose": purpose,
        "channel": channel,
        "granted": row.granted,
        "explicit": True,
        "notice_version": row.notice_version,
        "source_channel": row.source_channel,
        "updated_at": row.updated_at,
    }
