"""Reads for many owners at once, as the DataLoaders ask: rows grouped by their owner (every
owner asked for has a list, perhaps empty), all of each owner's or the newest few, each in
one statement whatever the number of owners."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased

T = TypeVar("T")
K = TypeVar("K")


def grouped(rows: Iterable[T], owners: Sequence[K], owner: Callable[[T], K]) -> dict[K, list[T]]:
    """`rows` by `owner(row)`, in the order they come, with a list for each of `owners`."""
    found: dict[K, list[T]] = {key: [] for key in owners}
    for row in rows:
        found[owner(row)].append(row)
    return found


async def _by_owner(
    session: AsyncSession, query: sa.Select[T, int], owners: Sequence[int]
) -> dict[int, list[T]]:
    rows = (await session.execute(query)).all()
    return {key: [row for row, _ in group] for key, group in grouped(rows, owners, _owner).items()}


def _owner(row: tuple[Any, int]) -> int:
    return row[1]


async def all_per_owner(
    session: AsyncSession,
    model: type[T],
    *,
    owner: Mapped[Any],
    owners: Sequence[int],
    order: Sequence[sa.ColumnElement[Any] | Mapped[Any]],
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> dict[int, list[T]]:
    """Every row of `model` per owner in `owners`, ordered by `order` within each owner."""
    query = sa.select(model, owner).where(owner.in_(owners), *where).order_by(owner, *order)
    return await _by_owner(session, query, owners)


async def newest_per_owner(
    session: AsyncSession,
    model: type[T],
    *,
    owner: Mapped[Any],
    owners: Sequence[int],
    newest_first: Sequence[sa.ColumnElement[Any] | Mapped[Any]],
    limit: int,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> dict[int, list[T]]:
    """Up to `limit` rows of `model` per owner in `owners`, ordered by `newest_first` (a
    window function ranks each owner's rows)."""
    rank = sa.func.row_number().over(partition_by=owner, order_by=newest_first).label("rank")
    ranked = sa.select(model, owner.label("owner"), rank).where(owner.in_(owners), *where)
    sub = ranked.subquery()
    query = (
        sa.select(aliased(model, sub), sub.c.owner)
        .where(sub.c.rank <= limit)
        .order_by(sub.c.owner, sub.c.rank)
    )
    return await _by_owner(session, query, owners)
