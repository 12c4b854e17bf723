"""`analytics.series` and `analytics.funnel`: measures over whole days, ISO weeks or months,
each period published from released days (cdp.analytics.publish says what may be shown)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from cdp.analytics.funnels import Step
from cdp.analytics.periods import Granularity
from cdp.analytics.series import Ask, EntryDepth, Measure, Point, series
from cdp.db import utcnow
from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.enums import Channel, expose
from cdp.graphql.objects import object_type

expose(
    Granularity,
    "ReportingPeriod",
    "Whole periods of the brand's time zone (CDP_ANALYTICS_TIMEZONE) a range is snapped to.",
    {
        Granularity.DAY: "Days.",
        Granularity.WEEK: "ISO weeks, Monday to Sunday.",
        Granularity.MONTH: "Calendar months.",
    },
)
expose(
    EntryDepth,
    "EntryDepth",
    "How finely entry conversion splits entries.",
    {
        EntryDepth.FROM: "By `from` alone.",
        EntryDepth.TYPE: "By `from` and `type` (key `from|type`).",
        EntryDepth.ID: "By `from`, `type` and `id` (key `from|type|id`).",
    },
)
expose(
    Measure,
    "AnalyticsMeasure",
    "A measure over time. Rates count people: `did` of `people`.",
    {
        Measure.MENU_CLICKS: "Per menu item: people active in the official account, those "
        "who clicked it (events: clicks).",
        Measure.ARTICLE_CLICK_THROUGH: "Per article id: people who read it (article_read), "
        "those who went on into the mini-program from it the same day (events: landings, "
        "baseEvents: reads).",
        Measure.FOLLOW_CONVERSION: "Per QR scene: people who followed, those who paid for an "
        "order within `days`.",
        Measure.FAN_RETENTION: "Per QR scene: people who followed, those still following "
        "`days` (30) later.",
        Measure.ENTRY_CONVERSION: "Per entry: people who came in by it, those who paid for an "
        "order within `days`.",
        Measure.MULTI_APP_INTERACTION: "People active, those active in two apps or more "
        "(多载体互动率).",
        Measure.REPURCHASE: "Per entry source of the order: buyers, those who paid for another "
        "order within `days`.",
        Measure.LAPSED_MEMBERS: "Members at the period's end by days since last seen (0-7, "
        "8-30, 31-90, 91-180, 181+).",
        Measure.ACTIVE_HOURS: "Per hour of the day (00-23, local): people active in it.",
        Measure.AGE_BANDS: "New members by five-year birth cohort (1995-1999) or (none).",
        Measure.PROVINCES: "New members by province, or (none).",
        Measure.FUNNEL: "Use `funnel`.",
    },
)
HIDDEN = "Null when suppressed."


@object_type("SeriesCell", description="One key of a measure in one period.")
class SeriesCell:
    key: str = strawberry.field(description="The group: a menu item, an article id, an hour...")
    people: int | None = strawberry.field(
        description=f"People (person-days in a week or month of an activity measure). {HIDDEN}"
    )
    did: int | None = strawberry.field(description=f"Of them, those who did. {HIDDEN}")
    rate: float | None = strawberry.field(description="did / people, 0-1. Null: no rate.")
    events: int | None = strawberry.field(description=f"Events behind it (clicks...). {HIDDEN}")
    base_events: int | None = strawberry.field(
        description=f"Events it is out of (exposures, reads...). {HIDDEN}"
    )
    suppressed: bool = strawberry.field(
        description="True when a group behind it is under minimumGroupSize, or showing it "
        "would let a difference of cells give such a group away."
    )
    complete: bool = strawberry.field(
        description="False when the period sums only its shown days (hidden days left out)."
    )


@object_type("SeriesPoint", description="One whole period of a series.")
class SeriesPoint:
    starts: date = strawberry.field(description="Its first day.")
    ends: date = strawberry.field(description="Its last day.")
    released: bool = strawberry.field(
        description="False while the period, or the wait after it, is not over: no cells."
    )
    cells: list[SeriesCell] = strawberry.field(description="One cell per key.")


@strawberry.input(description="A funnel step: an event (of a type, in a channel) or an order.")
class FunnelStepInput:
    event: str | None = strawberry.field(default=None, description="An event type.")
    channel: Channel | None = strawberry.field(
        default=None, description="Only events in this channel."
    )
    order: bool = strawberry.field(default=False, description="A paid order instead of an event.")


def _points(points: list[Point]) -> list[SeriesPoint]:
    out = []
    for point in points:
        cells = []
        for c in point.cells:
            t = c.tally
            rate = None if t is None or t.did is None or not t.people else t.did / t.people
            cells.append(
                SeriesCell(
                    key=c.key,
                    people=None if t is None else t.people,
                    did=None if t is None else t.did,
                    rate=rate,
                    events=None if t is None else t.events,
                    base_events=None if t is None else t.base_events,
                    suppressed=t is None,
                    complete=c.complete,
                )
            )
        out.append(
            SeriesPoint(
                starts=point.period.starts,
                ends=point.period.last_day,
                released=point.released,
                cells=cells,
            )
        )
    return out


async def answer(info: Info, ask: Ask) -> list[SeriesPoint]:
    settings = info.context.settings
    uow = info.context.uow
    async with uow.session() as session:
        points = await series(
            session,
            ask=ask,
            zone=settings.analytics_timezone,
            k=settings.analytics_min_group_size,
            now=utcnow(),
            reads=lambda until: uow.reading(within=session, settled=until),
        )
    return _points(points)


def steps_of(given: list[FunnelStepInput]) -> tuple[Step, ...]:
    steps = []
    for n, step in enumerate(given):
        if step.order == (step.event is not None) or (step.order and step.channel):
            raise bad_input(f"step {n + 1}: give an event (and a channel) or order", field="steps")
        if step.event is not None and not 1 <= len(step.event) <= 64:
            raise bad_input(f"step {n + 1}: an event type is 1-64 characters", field="steps")
        steps.append(Step(event=step.event, channel=step.channel, order=step.order))
    return tuple(steps)


Period_ = Annotated[
    Granularity, strawberry.argument(name="period", description="Days, ISO weeks or months.")
]
Days = Annotated[
    int, strawberry.argument(description="The wait after each day, for the rates that need one.")
]
