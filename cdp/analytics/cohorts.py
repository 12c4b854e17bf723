"""Cohort measures as day tallies: people who entered a state on a day (followed, came in
by an entry, bought), and those of them who did something next within a number of days."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from cdp.analytics.daily import NONE, Span, Tallies, _collect, _text, by
from cdp.analytics.queries import SPEND_STATUSES, E, O, counted

FOLLOW, UNFOLLOW = "wechat.subscribe", "wechat.unsubscribe"


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
        .group_by(*by(1, 2, 3))
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
            cohort.c.day,
            key,
            sa.func.count(),
            sa.func.count().filter(did),
            sa.func.count(),
            sa.null(),
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
    key = (
        parts[0]
        if len(parts) == 1
        else sa.func.concat_ws("|", *parts)
        if span.postgres
        else _joined(parts)
    )
    day = span.day(E.c.occurred_at)
    entries = (
        sa.select(
            E.c.profile_id,
            day.label("day"),
            key.label("entry"),
            sa.func.min(E.c.occurred_at).label("at"),
        )
        .where(*span.events(E.c.entry_from.is_not(None)))
        .group_by(*by(1, 2, 3))
        .subquery()
    )
    did = _ordered_within(span, entries.c.profile_id, entries.c.at, days)
    return await _cohort(span, entries, entries.c.entry, did)


def _joined(parts: Sequence[Any]) -> Any:
    out = parts[0]
    for part in parts[1:]:
        out = out.op("||")("|").op("||")(part)
    return out


async def repurchase(span: Span, days: int) -> Tallies:
    """Per entry source: people who paid for an order that day, and those who paid for
    another within `days` after."""
    day = span.day(O.c.paid_at)
    source = sa.func.coalesce(O.c.entry_from, NONE)
    buyers = (
        sa.select(
            O.c.profile_id,
            day.label("day"),
            source.label("source"),
            sa.func.min(O.c.paid_at).label("at"),
        )
        .where(
            O.c.paid_at >= span.lo,
            O.c.paid_at < span.hi,
            O.c.profile_id.is_not(None),
            O.c.status.in_(SPEND_STATUSES),
            counted(O.c.profile_id),
        )
        .group_by(*by(1, 2, 3))
        .subquery()
    )
    did = _ordered_within(span, buyers.c.profile_id, buyers.c.at, days, after=True)
    return await _cohort(span, buyers, buyers.c.source, did)
