"""Funnels and lapsed members, as day tallies.

A funnel's steps are conditions on events (a type, optionally in one channel) or paid orders;
a person enters on the first time they meet step 1 on a day, and reaches step n when they meet
it after reaching step n-1 and within the window from their entry. One query: each step is a
correlated minimum over the previous step's time, so nobody is loaded into Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.util import ClauseAdapter

from cdp.analytics.daily import Span, Tallies, by
from cdp.analytics.publish import Tally
from cdp.analytics.queries import SPEND_STATUSES, E, O, P, counted
from cdp.channels import Channel
from cdp.columns import UtcDateTime

MAX_STEPS = 6


@dataclass(frozen=True, slots=True)
class Step:
    """An event of `event` type (in `channel`, if given), or a paid order when `order`."""

    event: str | None = None
    channel: Channel | None = None
    order: bool = False

    def canonical(self) -> str:
        if self.order:
            return "order"
        return f"event:{self.event}" + (f"@{self.channel.value}" if self.channel else "")

    def times(self) -> tuple[Any, Any, tuple[Any, ...]]:
        """(the table, its time column, what its rows must meet)."""
        if self.order:
            return O, O.c.paid_at, (O.c.status.in_(SPEND_STATUSES), O.c.profile_id.is_not(None))
        where: tuple[Any, ...] = (E.c.type == self.event,)
        if self.channel is not None:
            where += (E.c.channel == self.channel.value,)
        return E, E.c.occurred_at, where


async def funnel(span: Span, steps: list[Step], window_days: int) -> Tallies:
    table, at, where = steps[0].times()
    day = span.day(at)
    stage = (
        sa.select(table.c.profile_id.label("who"), day.label("day"), sa.func.min(at).label("t1"))
        .where(at >= span.lo, at < span.hi, counted(table.c.profile_id), *where)
        .group_by(*by(1, 2))
        .subquery()
    )
    for n, step in enumerate(steps[1:], start=2):
        source, when, conditions = step.times()
        inner = source.alias(f"step{n}")
        column = inner.c[when.name]
        extra = [ClauseAdapter(inner).traverse(c) for c in conditions]
        reached = (
            sa.select(sa.func.min(column))
            .where(
                inner.c.profile_id == stage.c.who,
                column >= stage.c[f"t{n - 1}"],
                span.within(column, stage.c.t1, window_days),
                *extra,
            )
            .scalar_subquery()
        )
        stage = sa.select(*stage.c, reached.label(f"t{n}")).subquery()
    reach = [sa.func.count(stage.c[f"t{n}"]) for n in range(2, len(steps) + 1)]
    rows = (
        await span.session.execute(
            sa.select(stage.c.day, sa.func.count(), *reach).group_by(stage.c.day)
        )
    ).all()
    found: Tallies = {}
    for row in rows:
        cohort = int(row[1])
        cells = {"1": Tally(cohort)}
        for n, reached_n in enumerate(row[2:], start=2):
            cells[str(n)] = Tally(cohort, int(reached_n))
        found[_as_day(row[0])] = cells
    return found


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


LAPSED_BUCKETS = ((7, "0-7"), (30, "8-30"), (90, "31-90"), (180, "91-180"))
LAPSED_LONGEST = "181+"


async def lapsed(span: Span, days: list[date]) -> Tallies:
    """For each of `days`, members as of its end by days since they were last seen (their
    last event or paid order, or their joining), in buckets."""
    found: Tallies = {}
    for day in days:
        hi = span.lo + timedelta(days=(day - _start_day(span)).days + 1)
        last_event = (
            sa.select(sa.func.max(E.c.occurred_at))
            .where(E.c.profile_id == P.c.id, E.c.occurred_at < hi)
            .scalar_subquery()
        )
        last_order = (
            sa.select(sa.func.max(O.c.paid_at))
            .where(O.c.profile_id == P.c.id, O.c.paid_at < hi, O.c.status.in_(SPEND_STATUSES))
            .scalar_subquery()
        )
        latest = sa.func.greatest if span.postgres else sa.func.max
        last = sa.type_coerce(
            latest(
                P.c.created_at,
                sa.func.coalesce(last_event, P.c.created_at),
                sa.func.coalesce(last_order, P.c.created_at),
            ),
            UtcDateTime,
        )
        bucket = sa.case(
            *((last >= hi - timedelta(days=d), name) for d, name in LAPSED_BUCKETS),
            else_=LAPSED_LONGEST,
        )
        rows = (
            await span.session.execute(
                sa.select(bucket, sa.func.count())
                .where(P.c.created_at < hi, counted(P.c.id))
                .group_by(*by(1))
            )
        ).all()
        found[day] = {str(name): Tally(int(n)) for name, n in rows}
    return found


def _start_day(span: Span) -> date:
    return span.lo.astimezone(ZoneInfo(span.zone)).date()
