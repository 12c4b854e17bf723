"""The SMS sign-in codes sent and not yet spent, one row each, by the phone's blind index:
the code as an HMAC (never the code), its expiry, the wrong attempts so far. Rows are pruned
an hour after they expire; the table shares the per-phone send limit across workers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime


class SmsCode(SQLModel, table=True):
    __tablename__ = "sms_codes"
    __table_args__ = (sa.Index("ix_sms_codes_phone_created", "phone_bidx", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    phone_bidx: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    code_mac: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))
    attempts: int = Field(default=0, nullable=False)
    spent_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime, nullable=True))
