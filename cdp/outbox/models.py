"""One row per message or webhook delivery to send, and its state.

PENDING (due at `due_at`) -> SENDING (claimed by a worker until `lease_until`) -> SENT, or
back to PENDING with a later `due_at` (a retry), or DEAD (retries used up; `last_error`),
or REFUSED (the send decision or the channel said no; `reason`), or UNCERTAIN: a worker
stopped after it may have sent and before it recorded the answer, and the channel cannot
tell a second send from the first, so the message is not sent again (cdp/outbox/worker.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field

KEY_MAX = 128
ERROR_MAX = 500
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class OutboxState(StrEnum):
    PENDING = "PENDING"
    SENDING = "SENDING"
    SENT = "SENT"
    REFUSED = "REFUSED"
    DEAD = "DEAD"
    UNCERTAIN = "UNCERTAIN"


# The states of a message that counts against a person's caps: queued, going or gone.
COUNTED = (
    OutboxState.PENDING.value,
    OutboxState.SENDING.value,
    OutboxState.SENT.value,
    OutboxState.UNCERTAIN.value,
)


class OutboxMessage(SQLModel, table=True):
    """What to send (`kind` names the channel's handler, `payload` what it needs: never a
    personal value, the recipient is read when sending), to whom, and how it went."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "state", "due_at"),
        sa.Index("ix_outbox_caps", "profile_id", "channel", "created_at"),
        sa.Index("ix_outbox_campaign", "campaign_id", "state"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))
    kind: str = Field(max_length=32, nullable=False)
    idempotency_key: str = Field(max_length=KEY_MAX, unique=True, nullable=False)
    profile_id: int | None = Field(default=None, sa_column=profile_fk(index=False, optional=True))
    purpose: str | None = Field(default=None, max_length=32)
    channel: str | None = Field(default=None, max_length=32)
    topic: str | None = Field(default=None, max_length=64)  # the template, or a webhook event
    campaign_id: int | None = Field(default=None)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON))
    state: OutboxState = Field(
        default=OutboxState.PENDING,
        sa_column=sa.Column(enum_column_type(OutboxState), nullable=False),
    )
    reason: str | None = Field(default=None, max_length=32)  # why REFUSED
    attempts: int = Field(default=0, nullable=False)
    due_at: datetime = timestamp_field()
    claimed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    lease_until: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    last_error: str | None = Field(default=None, max_length=ERROR_MAX)
    result: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    created_at: datetime = timestamp_field()
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]


class OutboxCursor(SQLModel, table=True):
    """How far a relay has read an append-only table (by id), e.g. audience changes."""

    __tablename__ = "outbox_cursors"

    name: str = Field(primary_key=True, max_length=64)
    position: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    updated_at: datetime = timestamp_field()
