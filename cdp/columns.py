"""Column types and columns shared by every domain's tables: UTC timestamps, enums stored as
their values, and the foreign key by which a row belongs to a person."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field

from cdp.db import as_utc, utcnow


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def enum_column_type(enum_cls: type[Any]) -> sa.Enum:
    """Enums stored as their string values in a VARCHAR: no native type to migrate."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


def timestamp_field() -> Any:
    """A required UTC timestamp that is the time of the insert unless given."""
    return Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False))


def profile_fk(*, index: bool = True, optional: bool = False) -> Any:
    """The column by which a domain row belongs to a person: gone with them unless moved, or
    (`optional`) unlinked instead. `index=False` where a composite index leads with it."""
    return sa.Column(
        sa.Integer,
        sa.ForeignKey("profiles.id", ondelete="SET NULL" if optional else "CASCADE"),
        nullable=optional,
        index=index,
    )
