"""Rows as JSON arrays built by the database, and back: each column encoded so that JSON can
carry it on PostgreSQL and SQLite alike (bytes as hex, JSON columns as JSON), and decoded into
the value the ORM's column type gives (UTC datetimes, enum members, bytes, booleans).

A list of rows is one `json_agg` / `json_group_array` of arrays whose first element is the
row's rank in the order the database sorted it (`row_number()`): SQLite 3.40 has no ORDER BY
inside an aggregate, and Python must not re-sort text by its own collation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from cdp.columns import UtcDateTime
from cdp.db import as_utc

Decode = Callable[[Any], Any]


def json_array(dialect: str, *values: Any) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.json_build_array(*values)
    return sa.func.json_array(*values)


def json_agg(dialect: str, value: Any) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.json_agg(value)
    return sa.func.json_group_array(value)


def nested(dialect: str, value: Any) -> Any:
    """A JSON value from a subquery, kept JSON inside an enclosing array (SQLite would embed
    a subquery's JSON as a string)."""
    return value if dialect == "postgresql" else sa.func.json(value)


def _utc(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def _hex(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value else None  # SQLite's hex(NULL) is ''


def _same(value: Any) -> Any:
    return value


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _enum(enum_class: Any) -> Decode:
    def decode(value: Any) -> Any:
        return None if value is None else enum_class(value)

    return decode


def codec(dialect: str, column: Any) -> tuple[Any, Decode]:
    """How `column` (of a table or a subquery) travels in JSON: its SQL expression and the
    decoder of what comes back."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return column, _utc
    while isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance  # AutoString: a String
    if isinstance(kind, sa.LargeBinary):
        encoded = sa.func.encode(column, "hex") if dialect == "postgresql" else sa.func.hex(column)
        return encoded, _hex
    if isinstance(kind, sa.JSON):
        return nested(dialect, column), _same
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        return column, _enum(kind.enum_class)
    if isinstance(kind, sa.Boolean):
        return column, _boolean
    if isinstance(kind, sa.Date):
        return column, _date
    if isinstance(kind, sa.Integer | sa.String):
        return column, _same
    raise TypeError(f"no JSON codec for {column.name}: {kind!r}")


@dataclass(frozen=True)
class Shape:
    """The columns of a table that travel, by attribute name, and their decoders."""

    names: tuple[str, ...]
    decoders: tuple[Decode, ...]

    @classmethod
    def of(cls, model: type, names: Sequence[str] | None = None) -> Shape:
        attributes: Any = sa.inspect(model).column_attrs
        keys = tuple(a.key for a in attributes if names is None or a.key in names)
        table = model.__table__  # type: ignore[attr-defined]
        decoders = tuple(codec("sqlite", table.c[key])[1] for key in keys)
        return cls(keys, decoders)

    def element(self, dialect: str, columns: Any, rank: Any) -> sa.ColumnElement[Any]:
        """One row as a JSON array: its rank, then its columns (of `columns`: a table's or a
        subquery's `.c`)."""
        return json_array(dialect, rank, *(codec(dialect, columns[n])[0] for n in self.names))

    def rows(self, text: Any) -> list[SimpleNamespace]:
        """The rows of an aggregate, in the database's order (by rank)."""
        if text is None:
            return []
        found = json.loads(text) if isinstance(text, str) else text
        found.sort(key=_rank)
        return [self.row(item[1:]) for item in found]

    def row(self, values: Sequence[Any]) -> SimpleNamespace:
        return SimpleNamespace(
            **{
                name: decode(value)
                for name, decode, value in zip(self.names, self.decoders, values, strict=True)
            }
        )


def _rank(item: list[Any]) -> Any:
    return item[0]


def pairs(text: Any) -> list[list[Any]]:
    """The `[row, extra]` elements of an aggregate whose rows carry a nested value, by rank."""
    if text is None:
        return []
    found: list[list[Any]] = json.loads(text) if isinstance(text, str) else text
    found.sort(key=_pair_rank)
    return found


def _pair_rank(item: list[Any]) -> Any:
    return item[0][0]
