"""`analytics` for analysts: de-identified aggregates, each over a date range, with cells of
fewer than k people suppressed (a flag and a null count) together with their complements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics import queries
from cdp.analytics.suppression import Breakdown, Cell, rate, suppress_group
from cdp.channels import APP_CHANNELS, Channel
from cdp.consent.models import DEFAULT_GRANTED, ConsentPurpose
from cdp.db import utcnow
from cdp.errors import bad_input
from cdp.graphql.analytics_cells import (
    BigInt,
    CountBreakdown,
    OrderSourceBreakdown,
    OrderSourceCell,
    RateCell,
    Retention,
    counts_of,
    label,
    rate_cell,
)
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type
from cdp.orders.tiers import TierThresholds
from cdp.profiles.models import Tier

R = TypeVar("R")
RangeQuery = Callable[[AsyncSession, datetime, datetime], Awaitable[R]]
MAX_RANGE_DAYS = 3660
# Reporting days; the latest leaves room for the day after `to` (datetime stops at 9999-12-31).
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9999, 12, 30)
From = Annotated[
    date,
    strawberry.argument(
        name="from", description="The first day (in CDP_ANALYTICS_TIMEZONE), 1970-01-01 or later."
    ),
]
To = Annotated[
    date,
    strawberry.argument(
        description=f"The last day, on or after `from` and at most {MAX_RANGE_DAYS} days later."
    ),
]


async def _range(info: Info, start: date, end: date) -> tuple[datetime, datetime]:
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise bad_input(f"to must be on or after from, at most {MAX_RANGE_DAYS} days", field="to")
    if start < EARLIEST_DAY or end > LATEST_DAY:
        field = "from" if start < EARLIEST_DAY else "to"
        raise bad_input(f"from and to must be {EARLIEST_DAY} to {LATEST_DAY}", field=field)
    return queries.bounds(start, end, info.context.settings.analytics_timezone)


async def _over(info: Info, start: date, end: date, query: RangeQuery[R]) -> R:
    """`query` over the reporting days `start` to `end`, in a read-only session."""
    lo, hi = await _range(info, start, end)
    async with info.context.uow.session() as session:
        return await query(session, lo, hi)


def _k(info: Info) -> int:
    return info.context.settings.analytics_min_group_size


def _whole(info: Info, cells: list[Cell]) -> CountBreakdown:
    # One group per person: the cells add up to the total.
    return counts_of(suppress_group(cells, k=_k(info), total_people=sum(c.people for c in cells)))


@object_type(
    "Analytics",
    description="De-identified aggregates over a date range; never one person. People "
    "who deny ANALYTICS, and erased people, are not counted.",
)
class Analytics:
    @strawberry.field(description="Cells under this many people are suppressed.")
    def minimum_group_size(self, info: Info) -> int:
        return _k(info)

    @strawberry.field(description="New members in the period, by current tier.")
    async def members_by_tier(self, info: Info, from_: From, to: To) -> CountBreakdown:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = {
                label(t): int(n)
                for t, n in await queries.members_by_tier(
                    session, lo, hi, TierThresholds.of(info.context.settings), utcnow()
                )
            }
        cells = [Cell((t.value,), rows.get(t.value, 0)) for t in Tier]
        return _whole(info, cells)

    @strawberry.field(description="New members in the period, by the app they were first seen in.")
    async def members_by_first_channel(self, info: Info, from_: From, to: To) -> CountBreakdown:
        found = await _over(info, from_, to, queries.members_by_first_channel)
        rows = {label(k): int(n) for k, n in found}
        cells = [Cell((c.value,), rows.get(c.value, 0)) for c in Channel if c in APP_CHANNELS]
        return _whole(info, cells)

    @strawberry.field(description="People tagged in the period, per tag.")
    async def tag_counts(self, info: Info, from_: From, to: To) -> CountBreakdown:
        rows = await _over(info, from_, to, queries.tag_counts)
        cells = [Cell((str(tag),), int(n)) for tag, n in sorted(rows)]
        # People can carry several tags: the cells do not add up to a total of people.
        result = suppress_group(cells, k=_k(info), total_people=0)
        return CountBreakdown(cells=counts_of(result).cells, total=None, total_suppressed=True)

    @strawberry.field(
        description="Share of the period's new members opted in, per purpose and channel."
    )
    async def consent_opt_in_rates(self, info: Info, from_: From, to: To) -> list[RateCell]:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            people = await queries.population(session, lo, hi)
            choices = await queries.explicit_choices(session, lo, hi)
        said: dict[tuple[str, str, bool], int] = {}
        for purpose, channel, granted, n in choices:
            key = (label(purpose), label(channel))
            said[(*key, bool(granted))] = int(n)
        cells = []
        for purpose in ConsentPurpose:
            for channel in Channel:
                yes = said.get((purpose.value, channel.value, True), 0)
                no = said.get((purpose.value, channel.value, False), 0)
                opted_in = people - no if DEFAULT_GRANTED[purpose] else yes
                cells.append(
                    rate_cell(rate((purpose.value,), opted_in, people, k=_k(info)), channel)
                )
        return cells

    @strawberry.field(description="Paid orders and revenue (fen) by entry source and channel.")
    async def orders_by_source(self, info: Info, from_: From, to: To) -> OrderSourceBreakdown:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = await queries.orders_by_source(session, lo, hi)
            total_orders, total_fen, buyers = await queries.order_totals(session, lo, hi)
        cells = [
            Cell(
                (source, label(channel)),
                int(people),
                (int(orders), int(revenue)),
            )
            for source, channel, orders, revenue, people in rows
        ]
        result = suppress_group(cells, k=_k(info), total_people=int(buyers))
        hidden = [c.key for c in result.cells if c.suppressed]
        if hidden and not result.total_suppressed:
            # One buyer can sit in several cells: the totals would give away the hidden cells
            # together, so they need k distinct buyers between them, not k per-cell counts.
            async with info.context.uow.session() as session:
                together = await queries.buyers_in(session, lo, hi, hidden)
            if together < _k(info):
                result = Breakdown(result.cells, result.total_people, total_suppressed=True)
        return OrderSourceBreakdown(
            cells=[
                OrderSourceCell(
                    source=c.key[0],
                    channel=Channel(str(c.key[1])),
                    orders=None if c.suppressed else c.values[0],
                    revenue_fen=None if c.suppressed else BigInt(c.values[1]),
                    buyers=None if c.suppressed else c.people,
                    suppressed=c.suppressed,
                )
                for c in sorted(result.cells, key=lambda c: (c.key[0] or "", c.key[1] or ""))
            ],
            total_orders=None if result.total_suppressed else int(total_orders),
            total_revenue_fen=None if result.total_suppressed else BigInt(int(total_fen)),
            total_suppressed=result.total_suppressed,
        )

    @strawberry.field(
        description="People first seen in each app in the period whose first "
        "order followed within `days` (30)."
    )
    async def conversion_by_channel(
        self,
        info: Info,
        from_: From,
        to: To,
        days: Annotated[
            int, strawberry.argument(description="Days from first sight to the order: 1-365.")
        ] = 30,
    ) -> list[RateCell]:
        if not 1 <= days <= 365:
            raise bad_input("days must be 1-365", field="days")
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = {
                label(c): (int(n), int(m))
                for c, n, m in await queries.conversion(session, lo, hi, days)
            }
        return [
            rate_cell(
                rate(
                    (c.value,),
                    rows.get(c.value, (0, 0))[1],
                    rows.get(c.value, (0, 0))[0],
                    k=_k(info),
                ),
                c,
            )
            for c in Channel
            if c in APP_CHANNELS
        ]

    @strawberry.field(
        description="People with two or more paid orders in the period over those "
        "with at least one."
    )
    async def repurchase_rate(self, info: Info, from_: From, to: To) -> RateCell:
        buyers, repeat = await _over(info, from_, to, queries.repurchase)
        return rate_cell(rate(("repurchase",), repeat, buyers, k=_k(info)))

    @strawberry.field(
        description="New members of the period active again (an event or an order "
        "after their first day) within 7 and within 30 days."
    )
    async def retention(self, info: Info, from_: From, to: To) -> Retention:
        cohort, week, month = await _over(info, from_, to, queries.retention)
        return Retention(
            day7=rate_cell(rate(("day7",), week, cohort, k=_k(info))),
            day30=rate_cell(rate(("day30",), month, cohort, k=_k(info))),
        )


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="De-identified aggregates. Analyst role only.")
    def analytics(self, info: Info) -> Analytics | None:
        info.context.uow.trail.record(action="analytics.read")
        return Analytics()
