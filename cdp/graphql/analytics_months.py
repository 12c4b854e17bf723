"""The calendar months the breakdowns of `analytics` answer: a range snaps to the month
holding it, answered once the month (and any wait after it) is over, from its release."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics.periods import Granularity, Period, period_of
from cdp.analytics.releases import release
from cdp.db import utcnow
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.graphql.analytics_cells import label
from cdp.graphql.context import Info

R = TypeVar("R")
RangeQuery = Callable[[AsyncSession, datetime, datetime], Awaitable[R]]
MAX_RANGE_DAYS = 3660
# Reporting days; the latest leaves room for the day after `to` (datetime stops at 9999-12-31).
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9999, 12, 30)
From = Annotated[
    date,
    strawberry.argument(
        name="from",
        description="A day (in CDP_ANALYTICS_TIMEZONE, 1970-01-01 or later) of the calendar "
        "month answered: the whole month is.",
    ),
]
To = Annotated[
    date,
    strawberry.argument(description="A day of the same month, on or after `from`."),
]


def month_of(info: Info, start: date, end: date, wait: int = 0) -> Period:
    """The calendar month holding [start, end], once it (and `wait` days after) is over."""
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise bad_input(f"to must be on or after from, at most {MAX_RANGE_DAYS} days", field="to")
    if start < EARLIEST_DAY or end > LATEST_DAY:
        field = "from" if start < EARLIEST_DAY else "to"
        raise bad_input(f"from and to must be {EARLIEST_DAY} to {LATEST_DAY}", field=field)
    month = period_of(start, Granularity.MONTH)
    if end >= month.ends:
        raise bad_input(
            "from and to must fall in one calendar month (answers are per month; "
            "use series for days, weeks or several months)",
            field="to",
        )
    if not month.closed(utcnow(), info.context.settings.analytics_timezone, wait):
        after = f" (and the {wait} days after it)" if wait else ""
        raise CdpError(
            ErrorCode.BAD_USER_INPUT,
            f"the month{after} is not over yet",
            field="to",
            reason="NOT_RELEASED",
        )
    return month


def plain(value: Any) -> Any:
    """Rows as JSON: numbers stay numbers, enums and text become text."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        return int(value)
    return label(value)


async def released(
    info: Info, start: date, end: date, query: RangeQuery[Any], variant: str = "", wait: int = 0
) -> Any:
    """`query` over the calendar month holding `start` to `end`, as released (once)."""
    month = month_of(info, start, end, wait)
    lo, hi = month.bounds(info.context.settings.analytics_timezone)
    name = getattr(query, "__name__", "query")
    uow = info.context.uow
    async with uow.session() as session:

        async def compute() -> Any:
            async with uow.reading(within=session, settled=hi) as reads:
                return plain(await query(reads, lo, hi))

        return await release(
            session, measure=f"month.{name}", variant=variant, period=month, compute=compute
        )


async def over(info: Info, start: date, end: date, query: RangeQuery[R], wait: int = 0) -> Any:
    return await released(info, start, end, query, wait=wait)
