"""The recent not-found lookups of capped roles, one row each: the shared counter of the miss
cap (every worker reads and writes it). Rows older than the window are pruned as new ones
arrive, so the table holds at most about `limit` rows per active actor."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime


class LookupMiss(SQLModel, table=True):
    """One not-found lookup: who, when, by which key kind and, for a phone, the keyed
    fingerprint of its masked form. Never the key itself."""

    __tablename__ = "lookup_misses"
    __table_args__ = (sa.Index("ix_lookup_misses_actor_at", "actor_subject", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_subject: str = Field(max_length=128)
    occurred_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    key_kind: str = Field(max_length=16)
    pattern: str | None = Field(default=None, max_length=32)
