"""Reporting periods: days, ISO weeks (Monday to Sunday) and calendar months in the brand's
time zone. Every published number belongs to one whole period; a range is snapped outward to
the periods it touches, and a period is published only once it has closed (and, for a measure
that waits to see what people did next, once that wait is over too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Granularity(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


# At most this many periods in one answer (a year of days, two of weeks, five of months).
MAX_PERIODS = {Granularity.DAY: 400, Granularity.WEEK: 106, Granularity.MONTH: 60}


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    starts: date
    ends: date  # the day after its last day
    granularity: Granularity

    @property
    def days(self) -> list[date]:
        return [self.starts + timedelta(days=n) for n in range((self.ends - self.starts).days)]

    @property
    def last_day(self) -> date:
        return self.ends - timedelta(days=1)

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """[first day 00:00, the day after the last 00:00) in `zone`, as UTC instants."""
        tz, utc = ZoneInfo(zone), ZoneInfo("UTC")
        return (
            datetime.combine(self.starts, time(), tz).astimezone(utc),
            datetime.combine(self.ends, time(), tz).astimezone(utc),
        )

    def closed(self, now: datetime, zone: str, wait_days: int = 0) -> bool:
        """Whether the period, and `wait_days` after it, are over at `now`."""
        return self.bounds(zone)[1] + timedelta(days=wait_days) <= now


def period_of(day: date, granularity: Granularity) -> Period:
    if granularity is Granularity.DAY:
        return Period(day, day + timedelta(days=1), granularity)
    if granularity is Granularity.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=7), granularity)
    first = day.replace(day=1)
    return Period(first, _next_month(first), granularity)


def covering(start: date, end: date, granularity: Granularity) -> list[Period]:
    """The whole periods that [start, end] touches, in order."""
    periods, day = [], start
    while day <= end:
        period = period_of(day, granularity)
        periods.append(period)
        day = period.ends
    return periods


def smallest_covering(start: date, end: date) -> Period | None:
    """The one day, ISO week or calendar month holding all of [start, end]; None when the
    range crosses a month (and the week it is in, if any)."""
    for granularity in Granularity:
        period = period_of(start, granularity)
        if end < period.ends:
            return period
    return None


def segments(period: Period) -> list[list[date]]:
    """The days of `period` in runs that share both their ISO week and their calendar month:
    every day, week and month is a union of such runs, so a difference of published periods is
    always a sum (with signs) of whole runs."""
    runs: list[list[date]] = []
    for day in period.days:
        if runs and runs[-1][-1].weekday() != 6 and runs[-1][-1].month == day.month:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()
