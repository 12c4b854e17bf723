"""The cells and breakdowns `analytics` answers with: suppressed cells carry a flag and null
numbers (cdp.analytics.suppression decides which)."""

from __future__ import annotations

from typing import NewType

import strawberry

from cdp.analytics.suppression import Breakdown, Rate
from cdp.graphql.enums import Channel  # registered with its descriptions first
from cdp.graphql.objects import object_type

# Sums of money over many orders outgrow GraphQL's 32-bit Int (see SCALARS in schema.py).
BigInt = NewType("BigInt", int)
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


def label(value: object) -> str:
    """A grouped column's value as text (drivers give enums back as members or strings)."""
    return str(getattr(value, "value", value))


def counts_of(result: Breakdown) -> CountBreakdown:
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


def rate_cell(value: Rate, channel: Channel | None = None) -> RateCell:
    hidden = value.suppressed
    return RateCell(
        key=str(value.key[0]),
        channel=channel,
        numerator=None if hidden else value.numerator,
        denominator=None if hidden else value.denominator,
        rate=value.value,
        suppressed=hidden,
    )
