"""`analytics` for analysts: de-identified aggregates, each over a date range, with cells of
fewer than k people suppressed (a flag and a null count) together with their complements."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, NewType

import strawberry

from cdp.analytics import queries
from cdp.analytics.suppression import Breakdown, Cell, Rate, rate, suppress_group
from cdp.channels import APP_CHANNELS, Channel
from cdp.consent.models import DEFAULT_GRANTED, ConsentPurpose
from cdp.db import utcnow
from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type
from cdp.orders.tiers import TierThresholds
from cdp.profiles.models import Tier

MAX_RANGE_DAYS = 3660
# Reporting days; the latest leaves room for the day after `to` (datetime stops at 9999-12-31).
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9999, 12, 30)
# Sums of money over many orders outgrow GraphQL's 32-bit Int (see SCALARS in schema.py).
BigInt = NewType("BigInt", int)
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
HIDDEN = "Null when suppressed."
SUPPRESSED = "True when fewer than minimumGroupSize people are behind it (or a sibling's "
SUPPRESSED += "count could be recovered from it): its numbers are null."


@object_type("CountCell", description="A count of people in one group.")
class CountCell:
    key: str = strawberry.field(description="The group: a tier, a channel or a tag.")
    count: int | None = strawberry.field(description=f"People. {HIDDEN}")
    suppressed: bool = strawberry.field(description=SUPPRESSED)


@object_type("CountBreakdown", description="People counted per group, and in all.")
class CountBreakdown:
    cells: list[CountCell] = strawberry.field(description="One cell per group.")
    total: int | None = strawberry.field(description=f"People in all groups. {HIDDEN}")
    total_suppressed: bool = strawberry.field(description="Whether the total is hidden.")


@object_type("RateCell", description="A share of people: numerator over denominator.")
class RateCell:
    key: str = strawberry.field(description="What is measured, e.g. a purpose or a channel.")
    channel: Channel | None = strawberry.field(description="The channel, where it is per channel.")
    numerator: int | None = strawberry.field(description=f"People who did. {HIDDEN}")
    denominator: int | None = strawberry.field(description=f"People who could have. {HIDDEN}")
    rate: float | None = strawberry.field(description="numerator / denominator, 0-1; null: none.")
    suppressed: bool = strawberry.field(description=SUPPRESSED)


@object_type("OrderSourceCell", description="Paid orders from one entry source in one channel.")
class OrderSourceCell:
    source: str | None = strawberry.field(description="The `from` entry parameter; null: none.")
    channel: Channel = strawberry.field(description="Where the orders were placed.")
    orders: int | None = strawberry.field(description=f"Paid orders. {HIDDEN}")
    revenue_fen: BigInt | None = strawberry.field(description=f"Their total, in fen. {HIDDEN}")
    buyers: int | None = strawberry.field(description=f"Distinct buyers. {HIDDEN}")
    suppressed: bool = strawberry.field(description=SUPPRESSED)


@object_type("OrderSourceBreakdown", description="Paid orders and revenue per entry source.")
class OrderSourceBreakdown:
    cells: list[OrderSourceCell] = strawberry.field(description="One cell per source and channel.")
    total_orders: int | None = strawberry.field(description=f"Paid orders in all. {HIDDEN}")
    total_revenue_fen: BigInt | None = strawberry.field(
        description=f"Revenue in all, in fen. {HIDDEN}"
    )
    total_suppressed: bool = strawberry.field(description="Whether the totals are hidden.")


@object_type("Retention", description="New members active again after their first day.")
class Retention:
    day7: RateCell = strawberry.field(description="Within 7 days.")
    day30: RateCell = strawberry.field(description="Within 30 days.")


def _label(value: object) -> str:
    """A grouped column's value as text (drivers give enums back as members or strings)."""
    return str(getattr(value, "value", value))


def _counts(result: Breakdown) -> CountBreakdown:
    return CountBreakdown(
        cells=[
            CountCell(
                key=str(c.key[0]), count=None if c.suppressed else c.people, suppressed=c.suppressed
            )
            for c in result.cells
        ],
        total=None if result.total_suppressed else result.total_people,
        total_suppressed=result.total_suppressed,
    )


def _rate(value: Rate, channel: Channel | None = None) -> RateCell:
    hidden = value.suppressed
    return RateCell(
        key=str(value.key[0]),
        channel=channel,
        numerator=None if hidden else value.numerator,
        denominator=None if hidden else value.denominator,
        rate=value.value,
        suppressed=hidden,
    )


async def _range(info: Info, start: date, end: date) -> tuple[datetime, datetime]:
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise bad_input(f"to must be on or after from, at most {MAX_RANGE_DAYS} days", field="to")
    if start < EARLIEST_DAY or end > LATEST_DAY:
        field = "from" if start < EARLIEST_DAY else "to"
        raise bad_input(f"from and to must be {EARLIEST_DAY} to {LATEST_DAY}", field=field)
    return queries.bounds(start, end, info.context.settings.analytics_timezone)


def _k(info: Info) -> int:
    return info.context.settings.analytics_min_group_size


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
                _label(t): int(n)
                for t, n in await queries.members_by_tier(
                    session, lo, hi, TierThresholds.of(info.context.settings), utcnow()
                )
            }
        cells = [Cell((t.value,), rows.get(t.value, 0)) for t in Tier]
        return _counts(suppress_group(cells, k=_k(info), total_people=sum(c.people for c in cells)))

    @strawberry.field(description="New members in the period, by the app they were first seen in.")
    async def members_by_first_channel(self, info: Info, from_: From, to: To) -> CountBreakdown:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = {
                _label(k): int(n)
                for k, n in await queries.members_by_first_channel(session, lo, hi)
            }
        cells = [Cell((c.value,), rows.get(c.value, 0)) for c in Channel if c in APP_CHANNELS]
        return _counts(suppress_group(cells, k=_k(info), total_people=sum(c.people for c in cells)))

    @strawberry.field(description="People tagged in the period, per tag.")
    async def tag_counts(self, info: Info, from_: From, to: To) -> CountBreakdown:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = await queries.tag_counts(session, lo, hi)
        cells = [Cell((str(tag),), int(n)) for tag, n in sorted(rows)]
        # People can carry several tags: the cells do not add up to a total of people.
        result = suppress_group(cells, k=_k(info), total_people=0)
        return CountBreakdown(cells=_counts(result).cells, total=None, total_suppressed=True)

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
            key = (_label(purpose), _label(channel))
            said[(*key, bool(granted))] = int(n)
        cells = []
        for purpose in ConsentPurpose:
            for channel in Channel:
                yes = said.get((purpose.value, channel.value, True), 0)
                no = said.get((purpose.value, channel.value, False), 0)
                opted_in = people - no if DEFAULT_GRANTED[purpose] else yes
                cells.append(_rate(rate((purpose.value,), opted_in, people, k=_k(info)), channel))
        return cells

    @strawberry.field(description="Paid orders and revenue (fen) by entry source and channel.")
    async def orders_by_source(self, info: Info, from_: From, to: To) -> OrderSourceBreakdown:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            rows = await queries.orders_by_source(session, lo, hi)
            total_orders, total_fen, buyers = await queries.order_totals(session, lo, hi)
        cells = [
            Cell(
                (source, _label(channel)),
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
                _label(c): (int(n), int(m))
                for c, n, m in await queries.conversion(session, lo, hi, days)
            }
        return [
            _rate(
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
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            buyers, repeat = await queries.repurchase(session, lo, hi)
        return _rate(rate(("repurchase",), repeat, buyers, k=_k(info)))

    @strawberry.field(
        description="New members of the period active again (an event or an order "
        "after their first day) within 7 and within 30 days."
    )
    async def retention(self, info: Info, from_: From, to: To) -> Retention:
        lo, hi = await _range(info, from_, to)
        async with info.context.uow.session() as session:
            cohort, week, month = await queries.retention(session, lo, hi)
        return Retention(
            day7=_rate(rate(("day7",), week, cohort, k=_k(info))),
            day30=_rate(rate(("day30",), month, cohort, k=_k(info))),
        )


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="De-identified aggregates. Analyst role only.")
    def analytics(self, info: Info) -> Analytics | None:
        info.context.uow.trail.record(action="analytics.read")
        return Analytics()
