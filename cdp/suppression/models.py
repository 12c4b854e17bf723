"""Erasure requests (with their receipts) and the suppression list of erased identifiers: the
rows every write path consults, so they sit below profiles (cdp.erasure runs the requests)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, enum_column_type, timestamp_field


class ErasureMode(StrEnum):
    DELETE = "DELETE"
    ANONYMIZE = "ANONYMIZE"


class ErasureStatus(StrEnum):
    PENDING = "PENDING"  # waiting for a second compliance officer
    COOLING_OFF = "COOLING_OFF"  # the person cancelled their account; runs at `runs_at`
    HELD = "HELD"  # compliance holds a cancellation, for a recorded legal reason
    EXECUTING = "EXECUTING"  # approved; steps run until it converges
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"  # the person withdrew their cancellation while cooling off


# A request in one of these is over: another may be opened for the person.
CLOSED = (ErasureStatus.COMPLETED, ErasureStatus.WITHDRAWN)


class ErasureOrigin(StrEnum):
    STAFF = "STAFF"  # requested by one compliance officer, approved by another
    SELF = "SELF"  # the person cancelled their account: their own request is the authority
    RETENTION = "RETENTION"  # the inactive-member retention policy (cdp.retention)


class ErasureRequest(SQLModel, table=True):
    __tablename__ = "erasure_requests"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()), max_length=36, unique=True, nullable=False
    )
    # The person, until execution removes the link (the surrogate id stays, as in the audit log).
    profile_id: int = Field(nullable=False, index=True)
    mode: ErasureMode = Field(sa_column=sa.Column(enum_column_type(ErasureMode), nullable=False))
    status: ErasureStatus = Field(
        sa_column=sa.Column(enum_column_type(ErasureStatus), nullable=False, index=True)
    )
    reason: str = Field(max_length=500, nullable=False)
    requested_by: str = Field(max_length=128, nullable=False)
    requested_at: datetime = timestamp_field()
    due_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    origin: ErasureOrigin = Field(
        default=ErasureOrigin.STAFF,
        sa_column=sa.Column(
            enum_column_type(ErasureOrigin), nullable=False, server_default="STAFF"
        ),
    )
    # A cancellation: when its cooling-off ends and the erasure runs (null for staff requests).
    runs_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    hold_reason: str | None = Field(default=None, max_length=500)
    held_by: str | None = Field(default=None, max_length=128)
    held_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    withdrawn_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    approved_by: str | None = Field(default=None, max_length=128)
    approved_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    completed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    # The state machine: the last step done, and what each step did (the receipt).
    step: str = Field(default="requested", max_length=32, nullable=False)
    receipt: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class SuppressionKind(StrEnum):
    UNION_ID = "UNION_ID"
    OPEN_ID = "OPEN_ID"
    PHONE = "PHONE"
    PROFILE = "PROFILE"  # the erased profile's public id


class Suppression(SQLModel, table=True):
    """An erased person's identifier, as its blind-index hash: ingest refuses it."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("kind", "bidx", name="uq_suppressions_kind_bidx"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: SuppressionKind = Field(
        sa_column=sa.Column(enum_column_type(SuppressionKind), nullable=False)
    )
    bidx: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    request_id: int = Field(nullable=False, index=True)
    created_at: datetime = timestamp_field()
