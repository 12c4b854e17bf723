"""The measures' day tallies: for a span of reporting days, one aggregate query grouped by the
local day (and the measure's key) returns people, those of them who did (for a rate) and the
events behind them. Nobody is loaded into Python; people who deny ANALYTICS are left out."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics.publish import Tally
from cdp.analytics.queries import E, P, counted, within_days
from cdp.channels import Channel

Tallies = dict[date, dict[str, Tally]]
ZONE_NAME = re.compile(r"[A-Za-z0-9_/+\-]{1,64}")
NONE = "(none)"
ARTICLE_READ = "article_read"
MENU_EVENTS = ("wechat.menu_click", "wechat.menu_view")


class Span:
    """[lo, hi) in UTC and how to read a timestamp's local day and hour on this database."""

    def __init__(self, session: AsyncSession, lo: datetime, hi: datetime, zone: str) -> None:
        self.session, self.lo, self.hi, self.zone = session, lo, hi, zone
        self.postgres = session.get_bind().dialect.name == "postgresql"
        # SQLite keeps naive UTC text: a fixed shift (the zone's offset at the span's start;
        # Asia/Shanghai has had one offset since 1991).
        offset = ZoneInfo(zone).utcoffset(lo.replace(tzinfo=None))
        self.shift = f"{int(offset.total_seconds() // 60) if offset else 0:+d} minutes"

    def _zone(self) -> Any:
        # Inlined, so that a grouped expression and its select list are one expression (a
        # bound parameter each time would differ); a zone name is letters, digits and _/+-.
        assert ZONE_NAME.fullmatch(self.zone), self.zone
        return sa.literal_column(f"'{self.zone}'")

    def day(self, column: Any) -> Any:
        if self.postgres:
            return sa.cast(sa.func.timezone(self._zone(), column), sa.Date)
        return sa.func.date(column, self.shift)

    def hour(self, column: Any) -> Any:
        if self.postgres:
            return sa.cast(sa.extract("hour", sa.func.timezone(self._zone(), column)), sa.Integer)
        return sa.cast(sa.func.strftime("%H", column, self.shift), sa.Integer)

    def within(self, later: Any, earlier: Any, days: int, *, strictly_after: bool = False) -> Any:
        return within_days(
            self.session, later, earlier, 0, days, inclusive_start=not strictly_after
        )

    def events(self, *where: Any) -> tuple[Any, ...]:
        return (
            E.c.occurred_at >= self.lo,
            E.c.occurred_at < self.hi,
            counted(E.c.profile_id),
            *where,
        )


def by(*positions: int) -> list[Any]:
    """GROUP BY the select list's columns at `positions`: an expression with bound values
    (a time zone, a JSON key) is bound anew each time it is written, and PostgreSQL would not
    take the grouped and the selected one for the same."""
    return [sa.text(str(n)) for n in positions]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _collect(session: AsyncSession, query: Any) -> Tallies:
    """Rows of (day, key, people, did, events, base events) as tallies."""
    found: Tallies = defaultdict(dict)
    for day, key, people, did, events, base in (await session.execute(query)).all():
        name = f"{key:02d}" if isinstance(key, int) else str(key)
        found[_day(day)][NONE if key is None or key == "" else name] = Tally(
            int(people), None if did is None else int(did), int(events or 0), int(base or 0)
        )
    return found


def _text(column: Any, name: str) -> Any:
    return column[name].as_string()


async def menu_clicks(span: Span) -> Tallies:
    """Per menu item: people active in the official account that day, those who clicked it."""
    item = sa.func.coalesce(
        _text(E.c.properties, "key"), _text(E.c.properties, "menuId"), _text(E.c.properties, "url")
    )
    day = span.day(E.c.occurred_at)
    clicks = await span.session.execute(
        sa.select(day, item, sa.func.count(sa.distinct(E.c.profile_id)), sa.func.count())
        .where(*span.events(E.c.type.in_(MENU_EVENTS)))
        .group_by(*by(1, 2))
    )
    base = {
        _day(d): (int(n), int(m))
        for d, n, m in await span.session.execute(
            sa.select(day, sa.func.count(sa.distinct(E.c.profile_id)), sa.func.count())
            .where(*span.events(E.c.channel == Channel.OFFICIAL_ACCOUNT.value))
            .group_by(*by(1))
        )
    }
    found: Tallies = defaultdict(dict)
    for d, key, clickers, n in clicks:
        people, seen = base.get(_day(d), (0, 0))
        found[_day(d)][str(key or NONE)] = Tally(
            max(people, int(clickers)), int(clickers), int(n), seen
        )
    return found


async def article_click_through(span: Span) -> Tallies:
    """Per article: people who read it that day, and those of them who went on from it into
    the mini-program (an event there with from=article and its id) the same day."""
    article = sa.func.coalesce(_text(E.c.entry_params, "id"), _text(E.c.properties, "articleId"))
    day = span.day(E.c.occurred_at)
    reads = (
        sa.select(
            E.c.profile_id, day.label("day"), article.label("article"), sa.func.count().label("n")
        )
        .where(*span.events(E.c.type == ARTICLE_READ))
        .group_by(*by(1, 2, 3))
        .subquery()
    )
    landing = E.alias("landing")
    landed = (
        sa.select(
            landing.c.profile_id,
            span.day(landing.c.occurred_at).label("day"),
            _text(landing.c.entry_params, "id").label("article"),
            sa.func.count().label("n"),
        )
        .where(
            landing.c.occurred_at >= span.lo,
            landing.c.occurred_at < span.hi,
            landing.c.channel == Channel.MINI_PROGRAM.value,
            landing.c.entry_from == "article",
        )
        .group_by(*by(1, 2, 3))
        .subquery()
    )
    joined = reads.outerjoin(
        landed,
        sa.and_(
            landed.c.profile_id == reads.c.profile_id,
            landed.c.day == reads.c.day,
            landed.c.article == reads.c.article,
        ),
    )
    return await _collect(
        span.session,
        sa.select(
            reads.c.day,
            reads.c.article,
            sa.func.count(),
            sa.func.count(landed.c.profile_id),
            sa.func.coalesce(sa.func.sum(landed.c.n), 0),
            sa.func.sum(reads.c.n),
        )
        .select_from(joined)
        .group_by(reads.c.day, reads.c.article),
    )


async def multi_app_interaction(span: Span) -> Tallies:
    """People active that day, and those active in two apps or more (多载体互动率)."""
    day = span.day(E.c.occurred_at)
    app = sa.func.coalesce(E.c.app_id, E.c.channel)
    per_person = (
        sa.select(
            E.c.profile_id,
            day.label("day"),
            sa.func.count(sa.distinct(app)).label("apps"),
            sa.func.count().label("n"),
        )
        .where(*span.events())
        .group_by(*by(1, 2))
        .subquery()
    )
    return await _collect(
        span.session,
        sa.select(
            per_person.c.day,
            sa.literal("all"),
            sa.func.count(),
            sa.func.count().filter(per_person.c.apps >= 2),
            sa.func.sum(per_person.c.n),
            sa.null(),
        ).group_by(per_person.c.day),
    )


async def active_hours(span: Span) -> Tallies:
    """Per hour of the day (00-23, local): people active in it, and their events."""
    day, hour = span.day(E.c.occurred_at), span.hour(E.c.occurred_at)
    return await _collect(
        span.session,
        sa.select(
            day,
            hour,
            sa.func.count(sa.distinct(E.c.profile_id)),
            sa.null(),
            sa.func.count(),
            sa.null(),
        )
        .where(*span.events())
        .group_by(*by(1, 2)),
    )


async def joined_by(span: Span, column: Any) -> Tallies:
    """New members that day, per a coarse column of their profile."""
    day = span.day(P.c.created_at)
    return await _collect(
        span.session,
        sa.select(day, column, sa.func.count(), sa.null(), sa.null(), sa.null())
        .where(P.c.created_at >= span.lo, P.c.created_at < span.hi, counted(P.c.id))
        .group_by(*by(1, 2)),
    )
