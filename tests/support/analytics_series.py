"""Reading `analytics.series` and `analytics.funnel`, and seeding the events they count."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from cdp.channels import Channel
from cdp.events.service import EventInput, EventStatus, record_events
from cdp.profiles.service import update_personal_fields
from cdp.profiles.values import PostalAddress
from tests.conftest import gql
from tests.support.analytics_seed import APPS, Seed

POINT = (
    "{ starts ends released cells { key people did rate events baseEvents suppressed complete } }"
)
_serial = itertools.count()
Cells = dict[str, tuple[Any, ...] | None]


async def event(
    seed: Seed,
    name: str,
    kind: str,
    when: datetime,
    channel: Channel = Channel.MINI_PROGRAM,
    *,
    entry: str | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    """An event of `name` in the app of `channel`, as the push processor or a service
    records it."""
    [outcome] = await record_events(
        session=seed.session,
        vault=seed.vault,
        events=[
            EventInput(
                event_id=f"S-{next(_serial)}",
                type=kind,
                channel=channel,
                app_id=APPS[channel],
                occurred_at=when,
                profile_id=seed.people[name].public_id,
                entry=entry,
                properties=properties or {},
            )
        ],
        now=when + timedelta(minutes=1),
    )
    assert outcome.status is EventStatus.ACCEPTED, outcome


async def describe(seed: Seed, name: str, *, birthday: date, province: str) -> None:
    await update_personal_fields(
        session=seed.session,
        vault=seed.vault,
        profile=seed.people[name],
        birthday=birthday,
        address=PostalAddress(province=province, city="某市"),
    )


async def series_of(
    client: httpx.AsyncClient, measure: str, period: str, start: str, end: str, extra: str = ""
) -> list[dict[str, Any]]:
    body = await gql(
        client,
        f'{{ analytics {{ series(measure: {measure}, period: {period}, from: "{start}", '
        f'to: "{end}"{extra}) {POINT} }} }}',
    )
    assert "errors" not in body, body
    points: list[dict[str, Any]] = body["data"]["analytics"]["series"]
    return points


async def funnel_of(
    client: httpx.AsyncClient, steps: list[dict[str, Any]], period: str, start: str, end: str
) -> list[dict[str, Any]]:
    given = json.dumps(steps).replace('"event"', "event").replace('"order"', "order")
    given = given.replace('"channel": "MINI_PROGRAM"', "channel: MINI_PROGRAM").replace(
        '"channel": "OFFICIAL_ACCOUNT"', "channel: OFFICIAL_ACCOUNT"
    )
    body = await gql(
        client,
        f'{{ analytics {{ funnel(steps: {given}, period: {period}, from: "{start}", '
        f'to: "{end}") {POINT} }} }}',
    )
    assert "errors" not in body, body
    points: list[dict[str, Any]] = body["data"]["analytics"]["funnel"]
    return points


def cells(point: dict[str, Any]) -> Cells:
    """key -> (people, did, events, baseEvents[, "partial"]) or None when suppressed."""
    out: Cells = {}
    for c in point["cells"]:
        if c["suppressed"]:
            assert c["people"] is None and c["did"] is None and c["rate"] is None, c
            out[c["key"]] = None
            continue
        shown = (c["people"], c["did"], c["events"], c["baseEvents"])
        out[c["key"]] = shown if c["complete"] else (*shown, "partial")
    return out


def by_start(points: list[dict[str, Any]]) -> dict[str, Cells]:
    return {p["starts"]: cells(p) for p in points if p["released"]}


def visible(points: list[dict[str, Any]]) -> dict[str, Cells]:
    """Only the periods and keys with something shown."""
    found = {}
    for start, shown in by_start(points).items():
        kept = {key: value for key, value in shown.items() if value is not None}
        if kept:
            found[start] = kept
    return found
