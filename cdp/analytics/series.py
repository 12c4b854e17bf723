"""Measures over time: each measure's kind, key and wait, and its published periods (a range
snapped to whole days, ISO weeks or months; only closed periods, from released days)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics import cohorts, daily, funnels
from cdp.analytics.periods import MAX_PERIODS, Granularity, Period, covering
from cdp.analytics.publish import Kind, Shown, publish
from cdp.analytics.releases import released_days
from cdp.errors import bad_input
from cdp.profiles.models import Profile
from cdp.profiles.personal import COHORT_YEARS

P = Profile.__table__  # type: ignore[attr-defined]
# Where a computation reads data up to an instant (a replica once it has caught up with it).
Reads = Callable[[datetime], AbstractAsyncContextManager[AsyncSession]]


class Measure(StrEnum):
    MENU_CLICKS = "MENU_CLICKS"
    ARTICLE_CLICK_THROUGH = "ARTICLE_CLICK_THROUGH"
    FOLLOW_CONVERSION = "FOLLOW_CONVERSION"
    FAN_RETENTION = "FAN_RETENTION"
    ENTRY_CONVERSION = "ENTRY_CONVERSION"
    MULTI_APP_INTERACTION = "MULTI_APP_INTERACTION"
    REPURCHASE = "REPURCHASE"
    LAPSED_MEMBERS = "LAPSED_MEMBERS"
    ACTIVE_HOURS = "ACTIVE_HOURS"
    AGE_BANDS = "AGE_BANDS"
    PROVINCES = "PROVINCES"
    FUNNEL = "FUNNEL"


class EntryDepth(StrEnum):
    FROM = "from"
    TYPE = "type"
    ID = "id"


@dataclass(frozen=True, slots=True)
class Ask:
    """One series asked for: the measure and its arguments."""

    measure: Measure
    granularity: Granularity
    start: date
    end: date
    days: int = 30  # the wait of conversion, retention and repurchase
    depth: EntryDepth = EntryDepth.FROM
    steps: tuple[funnels.Step, ...] = ()
    window_days: int = 7

    def variant(self) -> str:
        if self.measure is Measure.FUNNEL:
            text = f"window={self.window_days};" + ";".join(s.canonical() for s in self.steps)
        elif self.measure is Measure.ENTRY_CONVERSION:
            text = f"days={self.days};depth={self.depth.value}"
        elif SPECS[self.measure].waits:
            text = f"days={self.days}"
        else:
            text = ""
        return text if len(text) <= 200 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def wait(self) -> int:
        if self.measure is Measure.FUNNEL:
            return self.window_days
        return self.days if SPECS[self.measure].waits else 0


Query = Callable[[daily.Span, Ask, list[date]], Awaitable[daily.Tallies]]


@dataclass(frozen=True, slots=True)
class Spec:
    kind: Kind
    query: Query
    partition: bool = False
    waits: bool = False  # waits `days` after each day to see what people did next
    keys: tuple[str, ...] = ()  # a fixed set of keys, in order; otherwise those found


def _cohort_label(value: str) -> str:
    if not value.isdigit():
        return value
    return f"{value}-{int(value) + COHORT_YEARS - 1}"


SPECS: dict[Measure, Spec] = {
    Measure.MENU_CLICKS: Spec(Kind.ACTIVITY, lambda s, a, d: daily.menu_clicks(s)),
    Measure.ARTICLE_CLICK_THROUGH: Spec(
        Kind.ACTIVITY, lambda s, a, d: daily.article_click_through(s)
    ),
    Measure.FOLLOW_CONVERSION: Spec(
        Kind.COHORT, lambda s, a, d: cohorts.follow_conversion(s, a.days), waits=True
    ),
    Measure.FAN_RETENTION: Spec(
        Kind.COHORT, lambda s, a, d: cohorts.fan_retention(s, a.days), waits=True
    ),
    Measure.ENTRY_CONVERSION: Spec(
        Kind.COHORT,
        lambda s, a, d: cohorts.entry_conversion(s, a.days, a.depth.value),
        waits=True,
    ),
    Measure.MULTI_APP_INTERACTION: Spec(
        Kind.ACTIVITY, lambda s, a, d: daily.multi_app_interaction(s), keys=("all",)
    ),
    Measure.REPURCHASE: Spec(
        Kind.COHORT, lambda s, a, d: cohorts.repurchase(s, a.days), waits=True
    ),
    Measure.LAPSED_MEMBERS: Spec(
        Kind.SNAPSHOT,
        lambda s, a, d: funnels.lapsed(s, d),
        partition=True,
        keys=(*(name for _d, name in funnels.LAPSED_BUCKETS), funnels.LAPSED_LONGEST),
    ),
    Measure.ACTIVE_HOURS: Spec(
        Kind.ACTIVITY,
        lambda s, a, d: daily.active_hours(s),
        keys=tuple(f"{h:02d}" for h in range(24)),
    ),
    Measure.AGE_BANDS: Spec(
        Kind.COHORT, lambda s, a, d: daily.joined_by(s, P.c.birth_cohort), partition=True
    ),
    Measure.PROVINCES: Spec(
        Kind.COHORT, lambda s, a, d: daily.joined_by(s, P.c.province), partition=True
    ),
    Measure.FUNNEL: Spec(
        Kind.COHORT, lambda s, a, d: funnels.funnel(s, list(a.steps), a.window_days)
    ),
}


@dataclass(frozen=True, slots=True)
class Point:
    period: Period
    released: bool  # False: the period (or the wait after it) is not over yet
    cells: list[Shown] = field(default_factory=list)


def check(ask: Ask) -> list[Period]:
    if ask.end < ask.start:
        raise bad_input("to must be on or after from", field="to")
    if ask.start < date(1970, 1, 1) or ask.end > date(9999, 11, 30):
        raise bad_input("from and to must be 1970-01-01 to 9999-11-30", field="from")
    if not 1 <= ask.days <= 365:
        raise bad_input("days must be 1-365", field="days")
    if not 1 <= ask.window_days <= 90:
        raise bad_input("windowDays must be 1-90", field="windowDays")
    if ask.measure is Measure.FUNNEL and not 2 <= len(ask.steps) <= funnels.MAX_STEPS:
        raise bad_input(f"a funnel has 2 to {funnels.MAX_STEPS} steps", field="steps")
    periods = covering(ask.start, ask.end, ask.granularity)
    if len(periods) > MAX_PERIODS[ask.granularity]:
        limit = MAX_PERIODS[ask.granularity]
        raise bad_input(f"at most {limit} periods of {ask.granularity.value}", field="to")
    return periods


async def series(
    session: AsyncSession,
    *,
    ask: Ask,
    zone: str,
    k: int,
    now: datetime,
    reads: Reads | None = None,
) -> list[Point]:
    """The points of `ask`; days never released are computed (on a session from `reads`,
    given the end of what is read, when it is given) and kept on `session`."""
    spec = SPECS[ask.measure]
    periods = check(ask)
    ready = [p for p in periods if p.closed(now, zone, ask.wait())]
    if spec.kind is Kind.SNAPSHOT:
        wanted = sorted({p.last_day for p in ready})
    else:
        wanted = sorted({d for p in ready for d in p.days})

    days = await released_days(
        session,
        measure=ask.measure.value,
        variant=ask.variant(),
        days=wanted,
        compute=lambda first, last: _compute(
            reads or (lambda _: nullcontext(session)), ask, spec, zone, first, last, wanted
        ),
    )
    keys = list(spec.keys) or sorted({key for cells in days.values() for key in cells})
    if ask.measure is Measure.FUNNEL:
        keys = [str(n) for n in range(1, len(ask.steps) + 1)]
    points = []
    for period in periods:
        if period not in ready:
            points.append(Point(period, released=False))
            continue
        shown = publish(period, days, keys, k=k, kind=spec.kind, partition=spec.partition)
        points.append(Point(period, True, shown))
    if not spec.keys and ask.measure is not Measure.FUNNEL:  # only keys shown somewhere
        visible = {c.key for p in points for c in p.cells if c.tally is not None}
        points = [
            Point(p.period, p.released, [c for c in p.cells if c.key in visible]) for p in points
        ]
    if ask.measure is Measure.AGE_BANDS:
        points = [
            Point(
                p.period,
                p.released,
                [Shown(_cohort_label(c.key), c.tally, c.complete) for c in p.cells],
            )
            for p in points
        ]
    return points


async def _compute(
    reads: Reads,
    ask: Ask,
    spec: Spec,
    zone: str,
    first: date,
    last: date,
    wanted: list[date],
) -> daily.Tallies:
    lo, hi = Period(first, last + timedelta(days=1), Granularity.DAY).bounds(zone)
    async with reads(hi) as session:
        span = daily.Span(session, lo, hi, zone)
        return await spec.query(span, ask, [d for d in wanted if first <= d <= last])


def recent_asks(*, zone: str, now: datetime, days: int) -> list[Ask]:
    """What `release_recent` releases: every closed day of the last `days` for each measure
    but funnels (whose steps an analyst chooses), at the default waits and every entry depth,
    in spans of at most one query's worth of days."""
    today = now.astimezone(ZoneInfo(zone)).date()
    start = today - timedelta(days=days)
    asks = [
        Ask(m, Granularity.DAY, start, today, depth=depth)
        for m in Measure
        if m is not Measure.FUNNEL
        for depth in (EntryDepth if m is Measure.ENTRY_CONVERSION else [EntryDepth.FROM])
    ]
    spans = []
    for ask in asks:
        for chunk in range(0, days + 1, MAX_PERIODS[Granularity.DAY]):
            first = start + timedelta(days=chunk)
            last = min(today, first + timedelta(days=MAX_PERIODS[Granularity.DAY] - 1))
            spans.append(replace(ask, start=first, end=last))
    return spans


async def release_ask(session: AsyncSession, *, ask: Ask, zone: str, now: datetime) -> None:
    """Release the closed days of one span (those released already stay as they are)."""
    await series(session, ask=ask, zone=zone, k=5, now=now)


async def release_recent(session: AsyncSession, *, zone: str, now: datetime, days: int) -> int:
    """Release every span of `recent_asks` in one transaction: what `cdp analytics release`
    runs, so that no analyst waits for a cold release. The measures' count."""
    spans = recent_asks(zone=zone, now=now, days=days)
    for ask in spans:
        await release_ask(session, ask=ask, zone=zone, now=now)
    return len({(a.measure, a.depth) for a in spans})
