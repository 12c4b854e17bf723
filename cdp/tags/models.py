"""The profile-tag table: one row per (profile, tag)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import enum_column_type, profile_fk, timestamp_field

TAG_MAX = 64


class TagSource(StrEnum):
    MANUAL = "MANUAL"
    RULE = "RULE"
    IMPORT = "IMPORT"


class ProfileTag(SQLModel, table=True):
    __tablename__ = "profile_tags"
    __table_args__ = (
        sa.UniqueConstraint("profile_id", "tag", name="uq_profile_tags_profile_tag"),
        sa.Index("ix_profile_tags_tag_profile", "tag", "profile_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk(index=False))
    tag: str = Field(max_length=TAG_MAX, nullable=False)
    source: TagSource = Field(sa_column=sa.Column(enum_column_type(TagSource), nullable=False))
    tagged_by: str = Field(max_length=128, nullable=False)
    tagged_at: datetime = timestamp_field()
