"""Released results: what a measure came to for one closed period, computed once and kept.

Every analytics answer is read from these rows, never from live tables, so asking about the
same period twice gives the same numbers whatever happened since (a late event, a changed
tier, an erasure): no difference between two answers about one period exists to isolate
anyone. A release is written on first demand after the period closed, inside the request's
transaction; two requests releasing the same period at once keep the first (the unique key
refuses the second, which reads what the first wrote).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from cdp.analytics.periods import Granularity, Period
from cdp.analytics.publish import Tally
from cdp.columns import timestamp_field
from cdp.db import utcnow

VARIANT_MAX = 300


class AnalyticsRelease(SQLModel, table=True):
    __tablename__ = "analytics_releases"
    __table_args__ = (
        sa.UniqueConstraint("measure", "variant", "period", "starts", name="uq_analytics_releases"),
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    )
    measure: str = Field(max_length=64, nullable=False)
    variant: str = Field(max_length=VARIANT_MAX, nullable=False)  # the arguments, canonical
    period: str = Field(max_length=8, nullable=False)
    starts: date = Field(nullable=False)
    body: Any = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    released_at: datetime = timestamp_field()


R = AnalyticsRelease.__table__  # type: ignore[attr-defined]
SpanQuery = Callable[[date, date], Awaitable[dict[date, dict[str, Tally]]]]


def stored_variant(variant: str) -> str:
    """The variant as kept: itself when it fits the column, else its SHA-256 (a variant that
    names many hidden cells, say, is longer than any column should be)."""
    if len(variant) <= VARIANT_MAX:
        return variant
    return "sha256:" + hashlib.sha256(variant.encode()).hexdigest()


async def _stored(
    session: AsyncSession, measure: str, variant: str, period: Granularity, starts: Sequence[date]
) -> dict[date, Any]:
    variant = stored_variant(variant)
    found: dict[date, Any] = {}
    for chunk in range(0, len(starts), 500):
        rows = await session.execute(
            sa.select(R.c.starts, R.c.body).where(
                R.c.measure == measure,
                R.c.variant == variant,
                R.c.period == period.value,
                R.c.starts.in_(starts[chunk : chunk + 500]),
            )
        )
        found.update({_day(s): body for s, body in rows})
    return found


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _keep(
    session: AsyncSession, measure: str, variant: str, period: Granularity, bodies: dict[date, Any]
) -> None:
    if not bodies:
        return
    variant = stored_variant(variant)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    rows = [
        {
            "measure": measure,
            "variant": variant,
            "period": period.value,
            "starts": starts,
            "body": body,
            "released_at": now,
        }
        for starts, body in bodies.items()
    ]
    for chunk in range(0, len(rows), 500):
        insert = dialect.insert(R).values(rows[chunk : chunk + 500])
        await session.execute(insert.on_conflict_do_nothing())


async def release(
    session: AsyncSession,
    *,
    measure: str,
    variant: str,
    period: Period,
    compute: Callable[[], Awaitable[Any]],
) -> Any:
    """The released body of one closed period (computed now if it never was)."""
    granularity = period.granularity
    found = await _stored(session, measure, variant, granularity, [period.starts])
    if period.starts not in found:
        await _keep(session, measure, variant, granularity, {period.starts: await compute()})
        found = await _stored(session, measure, variant, granularity, [period.starts])
    return found[period.starts]


def _tallies(body: dict[str, list[int | None]]) -> dict[str, Tally]:
    return {
        key: Tally(int(v[0] or 0), v[1], int(v[2] or 0), int(v[3] or 0)) for key, v in body.items()
    }


SPAN_DAYS = 31  # one query computes at most a month of days: each stays under the timeout


def _spans(days: list[date]) -> list[list[date]]:
    """`days` (sorted) in runs of at most SPAN_DAYS from their first."""
    spans: list[list[date]] = []
    for day in days:
        if spans and (day - spans[-1][0]).days < SPAN_DAYS:
            spans[-1].append(day)
        else:
            spans.append([day])
    return spans


async def released_days(
    session: AsyncSession, *, measure: str, variant: str, days: Sequence[date], compute: SpanQuery
) -> dict[date, dict[str, Tally]]:
    """The released tallies of closed `days`; the days never released are computed with one
    query per span of at most a month of them, and kept."""
    found = await _stored(session, measure, variant, Granularity.DAY, list(days))
    missing = sorted(set(days) - set(found))
    for chunk in _spans(missing):
        computed = await compute(chunk[0], chunk[-1])
        bodies = {
            day: {
                key: [t.people, t.did, t.events, t.base_events]
                for key, t in computed.get(day, {}).items()
            }
            for day in chunk
        }
        await _keep(session, measure, variant, Granularity.DAY, bodies)
        found.update(await _stored(session, measure, variant, Granularity.DAY, chunk))
    return {day: _tallies(found[day]) for day in days}
