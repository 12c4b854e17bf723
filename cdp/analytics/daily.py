"""The measures' day tallies: for a span of reporting days, one aggregate query grouped by the
local day (and the measure's key) returns people, those of them who did (for a rate) and the
events behind them. Nobody is loaded into Python; people who deny ANALYTICS are left out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics.publish import Tally
from cdp.analytics.queries import SPEND_STATUSES, E, O, P, counted, within_days
from cdp.channels import Channel

Tallies = dict[date, dict[str, Tally]]
NONE = "(none)"
ARTICLE_READ = "article_read"
MENU_EVENTS = ("wechat.menu_click", "wechat.menu_view")
FOLLOW, UNFOLLOW = "wechat.subscribe", "wechat.unsubscribe"


class Span:
    """[lo, hi) in UTC and how to read a timestamp's local day and hour on this database."""

    def __init__(self, session: AsyncSession, lo: datetime, hi: datetime, zone: str) -> None:
        self.session, self.lo, self.hi, self.zone = session, lo, hi, zone
        self.postgres = session.get_bind().dialect.name == "postgresql"
        # SQLite keeps naive UTC text: a fixed shift (the zone's offset at the span's start;
        # Asia/Shanghai has had one offset since 1991).
        offset = ZoneInfo(zone).utcoffset(lo.replace(tzinfo=None))
        self.shift = f"{int(offset.total_seconds() // 60) if offset else 0:+d} minutes"

    def day(self, column: Any) -> Any:
        if self.postgres:
            return sa.cast(sa.func.timezone(self.zone, column), sa.Date)
        return sa.func.date(column, self.shift)

    def hour(self, column: Any) -> Any:
        if self.postgres:
            return sa.cast(sa.extract("hour", sa.func.timezone(self.zone, column)), sa.Integer)
        return sa.cast(sa.func.strftime("%H", column, self.shift), sa.Integer)

    def within(self, later: Any, earlier: Any, days: int, *, strictly_after: bool = False) -> Any:
        return within_days(self.session, later, earlier, 0, days, inclusive_start=not strictly_after)

    def events(self, *where: Any) -> tuple[Any, ...]:
        return (E.c.occurred_at >= self.lo, E.c.occurred_at < self.hi, counted(E.c.profile_id), *where)


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
        .group_by(day, item)
    )
    base = {
        _day(d): (int(n), int(m))
        for d, n, m in await span.session.execute(
            sa.select(day, sa.func.count(sa.distinct(E.c.profile_id)), sa.func.count())
            .where(*span.events(E.c.channel == Channel.OFFICIAL_ACCOUNT.value))
            .group_by(day)
        )
    }
    found: Tallies = defaultdict(dict)
    for d, key, clickers, n in clicks:
        people, seen = base.get(_day(d), (0, 0))
        found[_day(d)][str(key or NONE)] = Tally(max(people, int(clickers)), int(clickers), int(n), seen)
    return found


async def article_click_through(span: Span) -> Tallies:
    """Per article: people who read it that day, and those of them who went on from it into
    the mini-program (an event there with from=article and its id) the same day."""
    article = sa.func.coalesce(_text(E.c.entry_params, "id"), _text(E.c.properties, "articleId"))
    day = span.day(E.c.occurred_at)
    reads = (
        sa.select(E.c.profile_id, day.label("day"), article.label("article"), sa.func.count().label("n"))
        .where(*span.events(E.c.type == ARTICLE_READ))
        .group_by(E.c.profile_id, day, article)
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
        .group_by(landing.c.profile_id, span.day(landing.c.occurred_at), _text(landing.c.entry_params, "id"))
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


def _follows(span: Span) -> Any:
    day = span.day(E.c.occurred_at)
    return (
        sa.select(
            E.c.profile_id,
            day.label("day"),
            sa.func.coalesce(_text(E.c.properties, "scene"), NONE).label("scene"),
            sa.func.min(E.c.occurred_at).label("at"),
        )
        .where(*span.events(E.c.type == FOLLOW))
        .group_by(E.c.profile_id, day, sa.func.coalesce(_text(E.c.properties, "scene"), NONE))
        .subquery()
    )


def _ordered_within(span: Span, profile: Any, since: Any, days: int, *, after: bool = False) -> Any:
    later = O.alias("later")
    return sa.exists().where(
        later.c.profile_id == profile,
        later.c.status.in_(SPEND_STATUSES),
        later.c.paid_at > since if after else later.c.paid_at >= since,
        span.within(later.c.paid_at, since, days, strictly_after=after),
    )


async def _cohort(span: Span, cohort: Any, key: Any, did: Any) -> Tallies:
    return await _collect(
        span.session,
        sa.select(
            cohort.c.day, key, sa.func.count(), sa.func.count().filter(did), sa.func.count(), sa.null()
        ).group_by(cohort.c.day, key),
    )


async def follow_conversion(span: Span, days: int) -> Tallies:
    """Per QR scene: people who followed the official account that day, and those who paid
    for an order within `days` of following."""
    f = _follows(span)
    return await _cohort(span, f, f.c.scene, _ordered_within(span, f.c.profile_id, f.c.at, days))


async def fan_retention(span: Span, days: int) -> Tallies:
    """Per QR scene: people who followed that day, and those who did not unfollow within
    `days` (30) after."""
    f = _follows(span)
    gone = E.alias("gone")
    left = sa.exists().where(
        gone.c.profile_id == f.c.profile_id,
        gone.c.type == UNFOLLOW,
        gone.c.occurred_at > f.c.at,
        span.within(gone.c.occurred_at, f.c.at, days),
    )
    return await _cohort(span, f, f.c.scene, ~left)


ENTRY_DEPTHS = {"from": ("from",), "type": ("from", "type"), "id": ("from", "type", "id")}


async def entry_conversion(span: Span, days: int, depth: str) -> Tallies:
    """Per entry (`from`, and its `type` and `id` as deep as asked): people who came in by
    it that day, and those who paid for an order within `days` of coming in."""
    parts = [E.c.entry_from] + [
        sa.func.coalesce(_text(E.c.entry_params, name), "") for name in ENTRY_DEPTHS[depth][1:]
    ]
    key = parts[0] if len(parts) == 1 else sa.func.concat_ws("|", *parts) if span.postgres else _joined(parts)
    day = span.day(E.c.occurred_at)
    entries = (
        sa.select(E.c.profile_id, day.label("day"), key.label("entry"), sa.func.min(E.c.occurred_at).label("at"))
        .where(*span.events(E.c.entry_from.is_not(None)))
        .group_by(E.c.profile_id, day, key)
        .subquery()
    )
    did = _ordered_within(span, entries.c.profile_id, entries.c.at, days)
    return await _cohort(span, entries, entries.c.entry, did)


def _joined(parts: Sequence[Any]) -> Any:
    out = parts[0]
    for part in parts[1:]:
        out = out.op("||")("|").op("||")(part)
    return out


async def multi_app_interaction(span: Span) -> Tallies:
    """People active that day, and those active in two apps or more (多载体互动率)."""
    day = span.day(E.c.occurred_at)
    app = sa.func.coalesce(E.c.app_id, E.c.channel)
    per_person = (
        sa.select(
            day.label("day"),
            sa.func.count(sa.distinct(app)).label("apps"),
            sa.func.count().label("n"),
        )
        .where(*span.events())
        .group_by(E.c.profile_id, day)
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


async def repurchase(span: Span, days: int) -> Tallies:
    """Per entry source: people who paid for an order that day, and those who paid for
    another within `days` after."""
    day = span.day(O.c.paid_at)
    source = sa.func.coalesce(O.c.entry_from, NONE)
    buyers = (
        sa.select(O.c.profile_id, day.label("day"), source.label("source"), sa.func.min(O.c.paid_at).label("at"))
        .where(
            O.c.paid_at >= span.lo,
            O.c.paid_at < span.hi,
            O.c.profile_id.is_not(None),
            O.c.status.in_(SPEND_STATUSES),
            counted(O.c.profile_id),
        )
        .group_by(O.c.profile_id, day, source)
        .subquery()
    )
    did = _ordered_within(span, buyers.c.profile_id, buyers.c.at, days, after=True)
    return await _cohort(span, buyers, buyers.c.source, did)


async def active_hours(span: Span) -> Tallies:
    """Per hour of the day (00-23, local): people active in it, and their events."""
    day, hour = span.day(E.c.occurred_at), span.hour(E.c.occurred_at)
    return await _collect(
        span.session,
        sa.select(
            day, hour, sa.func.count(sa.distinct(E.c.profile_id)), sa.null(), sa.func.count(), sa.null()
        )
        .where(*span.events())
        .group_by(day, hour),
    )


async def joined_by(span: Span, column: Any) -> Tallies:
    """New members that day, per a coarse column of their profile."""
    day = span.day(P.c.created_at)
    return await _collect(
        span.session,
        sa.select(day, column, sa.func.count(), sa.null(), sa.null(), sa.null())
        .where(P.c.created_at >= span.lo, P.c.created_at < span.hi, counted(P.c.id))
        .group_by(day, column),
    )
