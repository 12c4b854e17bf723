"""The data-key table. Deliberately without a foreign key to profiles: it can be stored and
backed up apart from the data, and erasure destroys a profile's keys explicitly."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.db import UtcDateTime, utcnow


class DataKey(SQLModel, table=True):
    """One AES-256 data key of a profile, wrapped by KEK `kek_version`. A profile may hold
    several (merges bring the loser's along); the newest encrypts new values."""

    __tablename__ = "data_keys"

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(nullable=False, index=True)
    kek_version: int = Field(nullable=False, index=True)
    wrapped: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False)
    )
    rewrapped_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UtcDateTime, nullable=True)
    )
