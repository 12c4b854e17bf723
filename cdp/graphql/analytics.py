"""`analytics` for analysts and marketers: de-identified aggregates, with cells of fewer than k
people suppressed (a flag and a null count) together with their complements.

The breakdowns below answer whole calendar months only (a range snaps to the month holding
it), each from the month's release: computed once after the month closed and kept, so that
no two answers differ by a few people (see cdp/analytics/releases.py). `series` and `funnel`
answer days, ISO weeks and months (cdp/analytics/publish.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics import queries
from cdp.analytics.series import Ask, EntryDepth, Measure
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
from cdp.graphql.analytics_months import From, To, over, plain, released
from cdp.graphql.analytics_series import (
    Days,
    FunnelStepInput,
    Period_,
    SeriesPoint,
    answer,
    steps_of,
)
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type
from cdp.orders.tiers import TierThresholds
from cdp.profiles.models import Tier


def _k(info: Info) -> int:
    return info.context.settings.analytics_min_group_size


def _whole(info: Info, cells: list[Cell]) -> CountBreakdown:
    # One group per person: the cells add up to the total.
    return counts_of(suppress_group(cells, k=_k(info), total_people=sum(c.people for c in cells)))


@object_type(
    "Analytics",
    description="De-identified aggregates over whole periods, each released once and kept; "
    "never one person. People who deny ANALYTICS are not counted.",
)
class Analytics:
    @strawberry.field(description="Cells under this many people are suppressed.")
    def minimum_group_size(self, info: Info) -> int:
        return _k(info)

    @strawberry.field(description="New members in the period, by current tier.")
    async def members_by_tier(self, info: Info, from_: From, to: To) -> CountBreakdown:
        thresholds = TierThresholds.of(info.context.settings)

        async def members_by_tier(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
            # Tiers as of the release (a month's answer never changes after).
            return await queries.members_by_tier(session, lo, hi, thresholds, utcnow())

        rows = {str(t): int(n) for t, n in await over(info, from_, to, members_by_tier)}
        cells = [Cell((t.value,), rows.get(t.value, 0)) for t in Tier]
        return _whole(info, cells)

    @strawberry.field(description="New members in the period, by the app they were first seen in.")
    async def members_by_first_channel(self, info: Info, from_: From, to: To) -> CountBreakdown:
        found = await over(info, from_, to, queries.members_by_first_channel)
        rows = {label(k): int(n) for k, n in found}
        cells = [Cell((c.value,), rows.get(c.value, 0)) for c in Channel if c in APP_CHANNELS]
        return _whole(info, cells)

    @strawberry.field(description="People tagged in the period, per tag.")
    async def tag_counts(self, info: Info, from_: From, to: To) -> CountBreakdown:
        rows = await over(info, from_, to, queries.tag_counts)
        cells = [Cell((str(tag),), int(n)) for tag, n in sorted(rows)]
        # People can carry several tags: the cells do not add up to a total of people.
        result = suppress_group(cells, k=_k(info), total_people=0)
        return CountBreakdown(cells=counts_of(result).cells, total=None, total_suppressed=True)

    @strawberry.field(
        description="Share of the period's new members opted in, per purpose and channel."
    )
    async def consent_opt_in_rates(self, info: Info, from_: From, to: To) -> list[RateCell]:
        async def consent_choices(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
            return [
                await queries.population(session, lo, hi),
                plain(await queries.explicit_choices(session, lo, hi)),
            ]

        people, choices = await over(info, from_, to, consent_choices)
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
        async def order_sources(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
            return [
                plain(await queries.orders_by_source(session, lo, hi)),
                plain(await queries.order_totals(session, lo, hi)),
            ]

        rows, (total_orders, total_fen, buyers) = await over(info, from_, to, order_sources)
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

            async def buyers_in(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
                return await queries.buyers_in(session, lo, hi, hidden)

            variant = repr(sorted((str(s), str(c)) for s, c in hidden))
            together = await released(info, from_, to, buyers_in, variant)
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

        async def conversion(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
            return await queries.conversion(session, lo, hi, days)

        found = await released(info, from_, to, conversion, f"days={days}", wait=days)
        rows = {str(c): (int(n), int(m)) for c, n, m in found}
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
        buyers, repeat = await over(info, from_, to, queries.repurchase)
        return rate_cell(rate(("repurchase",), repeat, buyers, k=_k(info)))

    @strawberry.field(
        description="New members of the period active again (an event or an order "
        "after their first day) within 7 and within 30 days."
    )
    async def retention(self, info: Info, from_: From, to: To) -> Retention:
        cohort, week, month = await over(info, from_, to, queries.retention, wait=30)
        return Retention(
            day7=rate_cell(rate(("day7",), week, cohort, k=_k(info))),
            day30=rate_cell(rate(("day30",), month, cohort, k=_k(info))),
        )

    @strawberry.field(
        description="A measure over whole periods: the range snapped out to the days, ISO "
        "weeks or months it touches, each period once it (and the measure's wait) is over."
    )
    async def series(
        self,
        info: Info,
        measure: Annotated[Measure, strawberry.argument(description="What to count.")],
        period: Period_,
        from_: Annotated[
            date, strawberry.argument(name="from", description="A day of the first period.")
        ],
        to: Annotated[date, strawberry.argument(description="A day of the last period.")],
        days: Days = 30,
        entry_depth: Annotated[
            EntryDepth, strawberry.argument(description="For ENTRY_CONVERSION.")
        ] = EntryDepth.FROM,
    ) -> list[SeriesPoint]:
        if measure is Measure.FUNNEL:
            raise bad_input("a funnel has steps: use funnel", field="measure")
        return await answer(info, Ask(measure, period, from_, to, days=days, depth=entry_depth))

    @strawberry.field(
        description="People entering a funnel (its first step) in each period, and how many "
        "reached each later step within `windowDays` of entering (key: the step, from 1)."
    )
    async def funnel(
        self,
        info: Info,
        steps: Annotated[
            list[FunnelStepInput], strawberry.argument(description="2 to 6 steps, in order.")
        ],
        period: Period_,
        from_: Annotated[
            date, strawberry.argument(name="from", description="A day of the first period.")
        ],
        to: Annotated[date, strawberry.argument(description="A day of the last period.")],
        window_days: Annotated[
            int, strawberry.argument(description="From entering to the last step: 1-90 days.")
        ] = 7,
    ) -> list[SeriesPoint]:
        ask = Ask(Measure.FUNNEL, period, from_, to, steps=steps_of(steps), window_days=window_days)
        return await answer(info, ask)


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="De-identified aggregates. Analyst and marketer roles.")
    def analytics(self, info: Info) -> Analytics | None:
        info.context.uow.trail.record(action="analytics.read")
        return Analytics()
