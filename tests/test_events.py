"""Behaviour events: recordEvent and recordEvents with a result per item, idempotent by event
id, refusing future-dated, oversized and unknown-identity events (both databases)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.auth import Role
from cdp.db import Database
from cdp.events.models import Event
from cdp.profiles.models import Profile
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.people import MINI, OFFICIAL, count, link

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

EVENTS = Event.__table__  # type: ignore[attr-defined]
MINI_OPEN_ID = "oMini_events_000000000000001"

RECORD_EVENT = """
mutation One($input: RecordEventInput!) {
  recordEvent(input: $input) { index eventId status code message field }
}
"""
RECORD_EVENTS = """
mutation Many($input: RecordEventsInput!) {
  recordEvents(input: $input) { index eventId status code message field }
}
"""


# --- helpers -----------------------------------------------------------------------------------


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def ahead(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def event(event_id: str, profile_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid event, by profile id unless the caller names an identity."""
    given: dict[str, Any] = {
        "eventId": event_id,
        "type": "article_read",
        "channel": "MINI_PROGRAM",
        "occurredAt": ago(minutes=1),
    }
    if profile_id is not None:
        given["profileId"] = profile_id
    return {**given, **fields}


async def record_one(service: httpx.AsyncClient, given: dict[str, Any]) -> dict[str, Any]:
    return await gql(service, RECORD_EVENT, {"input": given})


async def record_many(service: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    return await gql(service, RECORD_EVENTS, {"input": {"events": events}})


async def accepted_batch(
    service: httpx.AsyncClient, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    body = await record_many(service, events)
    assert "errors" not in body, body
    return body["data"]["recordEvents"]  # type: ignore[no-any-return]


async def new_person(service: httpx.AsyncClient, open_id: str = MINI_OPEN_ID, **kw: Any) -> str:
    channel = kw.pop("channel", "MINI_PROGRAM")
    app_id = kw.pop("app_id", MINI)
    return str((await link(service, channel, app_id, open_id, **kw))["id"])


async def event_rows(database: Database) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = await session.execute(sa.select(EVENTS).order_by(EVENTS.c.id))
        return [dict(row) for row in rows.mappings()]


async def surrogate_id(database: Database, public_id: str) -> int:
    async with database.transaction() as session:
        found = await session.scalar(sa.select(Profile.id).where(Profile.public_id == public_id))
    assert found is not None
    return int(found)


def statuses(results: list[dict[str, Any]]) -> list[str]:
    return [r["status"] for r in results]


# --- recording ---------------------------------------------------------------------------------


@CITUS
async def test_an_event_for_a_linked_identity_is_stored_with_its_entry_parameters(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    body = await record_one(
        service_client,
        {
            "eventId": "evt-article-0001",
            "type": "article_read",
            "channel": "MINI_PROGRAM",
            "appId": MINI,
            "openId": MINI_OPEN_ID,
            "entry": "from=article&id=123",
            "properties": {"title": "秋季新品", "seconds": 42, "tags": ["a", "b"]},
            "occurredAt": occurred.isoformat(),
        },
    )
    assert "errors" not in body, body
    assert body["data"]["recordEvent"] == {
        "index": 0,
        "eventId": "evt-article-0001",
        "status": "ACCEPTED",
        "code": None,
        "message": None,
        "field": None,
    }
    [row] = await event_rows(database)
    assert row["event_id"] == "evt-article-0001"
    assert row["profile_id"] == await surrogate_id(database, person)
    assert row["type"] == "article_read"
    assert row["channel"] == "MINI_PROGRAM"
    assert row["app_id"] == MINI
    assert row["entry_from"] == "article"
    assert row["entry_params"] == {"id": "123"}
    assert row["properties"] == {"title": "秋季新品", "seconds": 42, "tags": ["a", "b"]}
    stored = row["occurred_at"]
    stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
    assert stored == occurred
    assert await count(database, Profile) == 1


async def test_an_event_by_profile_id_is_accepted(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    body = await record_one(
        service_client,
        event("evt-menu-0001", person, type="menu_click", channel="OFFICIAL_ACCOUNT"),
    )
    assert "errors" not in body, body
    assert body["data"]["recordEvent"]["status"] == "ACCEPTED"
    [row] = await event_rows(database)
    assert (row["type"], row["channel"]) == ("menu_click", "OFFICIAL_ACCOUNT")
    assert row["profile_id"] == await surrogate_id(database, person)
    assert (row["entry_from"], row["entry_params"], row["properties"]) == (None, {}, {})


async def test_events_sent_with_an_offset_timestamp_are_stored_in_utc(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    occurred = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    shanghai = occurred.astimezone(timezone(timedelta(hours=8)))  # no DST
    body = await record_one(
        service_client, event("evt-tz-0001", person, occurredAt=shanghai.isoformat())
    )
    assert body["data"]["recordEvent"]["status"] == "ACCEPTED", body
    [row] = await event_rows(database)
    stored = row["occurred_at"]
    stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
    assert stored == occurred


# --- replays count once ------------------------------------------------------------------------


@CITUS
async def test_a_replayed_event_is_counted_once(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    first = await record_one(service_client, event("evt-replay-0001", person))
    assert first["data"]["recordEvent"]["status"] == "ACCEPTED", first
    for _ in range(2):
        again = await record_one(service_client, event("evt-replay-0001", person))
        assert "errors" not in again, again
        assert again["data"]["recordEvent"]["status"] == "DUPLICATE"
    # A replay that differs in content is still the same event: the first one stands.
    changed = await record_one(
        service_client, event("evt-replay-0001", person, type="video_view", properties={"a": 1})
    )
    assert changed["data"]["recordEvent"]["status"] == "DUPLICATE"
    [row] = await event_rows(database)
    assert (row["type"], row["properties"]) == ("article_read", {})

    # Through recordEvents too.
    results = await accepted_batch(service_client, [event("evt-replay-0001", person)])
    assert statuses(results) == ["DUPLICATE"]
    assert await count(database, Event) == 1


async def test_the_same_event_id_twice_in_one_batch_is_accepted_once(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    results = await accepted_batch(
        service_client,
        [
            event("evt-batch-0001", person),
            event("evt-batch-0002", person),
            event("evt-batch-0001", person, type="video_view"),
        ],
    )
    assert [(r["index"], r["eventId"], r["status"]) for r in results] == [
        (0, "evt-batch-0001", "ACCEPTED"),
        (1, "evt-batch-0002", "ACCEPTED"),
        (2, "evt-batch-0001", "DUPLICATE"),
    ]
    rows = await event_rows(database)
    assert sorted((r["event_id"], r["type"]) for r in rows) == [
        ("evt-batch-0001", "article_read"),
        ("evt-batch-0002", "article_read"),
    ]


@CITUS
async def test_concurrent_batches_carrying_the_same_event_ids_store_each_once(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    ids = [f"evt-par-{n:04d}" for n in range(40)]
    batches = [[event(i, person) for i in ids] for _ in range(5)]
    results = await asyncio.gather(
        *[accepted_batch(client_for(Role.SERVICE), batch) for batch in batches]
    )
    for event_id in ids:
        outcomes = [r["status"] for batch in results for r in batch if r["eventId"] == event_id]
        assert sorted(outcomes) == ["ACCEPTED"] + ["DUPLICATE"] * 4, event_id
    assert await count(database, Event) == len(ids)


async def test_concurrent_batches_with_overlapping_ids_in_any_order_store_each_once(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    ids = [f"evt-mix-{n:04d}" for n in range(60)]
    # Senders retry in their own order and with their own slice of the ids.
    orders = [ids, ids[::-1], ids[20:] + ids[:20], ids[::2] + ids[1::2], ids[30:][::-1]]
    results = await asyncio.gather(
        *[
            record_many(client_for(Role.SERVICE), [event(i, person) for i in order])
            for order in orders
        ]
    )
    assert all("errors" not in r for r in results), [r.get("errors") for r in results]
    accepted = [
        r["eventId"]
        for body in results
        for r in body["data"]["recordEvents"]
        if r["status"] == "ACCEPTED"
    ]
    assert sorted(accepted) == ids
    assert await count(database, Event) == len(ids)


# --- future-dated and oversized events are refused ---------------------------------------------


def deep(levels: int) -> dict[str, Any]:
    """A properties object nested `levels` deep (1 = a flat object)."""
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value  # type: ignore[no-any-return]


def sized(total_bytes: int) -> dict[str, Any]:
    """A properties object whose compact JSON is exactly `total_bytes` bytes."""
    overhead = len(json.dumps({"blob": ""}, separators=(",", ":")))
    return {"blob": "x" * (total_bytes - overhead)}


REFUSED_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "ten-minutes-ahead": ({"occurredAt": "future"}, "occurredAt"),
    "4097-bytes": ({"properties": sized(4097)}, "properties"),
    "over-4096-bytes-in-utf8": ({"properties": {"text": "长" * 1400}}, "properties"),
    "nested-5-deep": ({"properties": deep(5)}, "properties"),
    "nested-lists": ({"properties": {"list": [[[[[1]]]]]}}, "properties"),
}
REFUSED = [pytest.param(change, field, id=name) for name, (change, field) in REFUSED_CASES.items()]


def refused_event(event_id: str, person: str, change: dict[str, Any]) -> dict[str, Any]:
    if change.get("occurredAt") == "future":
        change = {"occurredAt": ahead(minutes=10)}
    return event(event_id, person, **change)


@pytest.mark.parametrize(("change", "field"), REFUSED)
async def test_future_dated_and_oversized_events_are_refused(
    service_client: httpx.AsyncClient, database: Database, change: dict[str, Any], field: str
) -> None:
    person = await new_person(service_client)
    body = await record_one(service_client, refused_event("evt-refused-0001", person, change))
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert field in body["errors"][0]["message"]
    assert body["data"] == {"recordEvent": None}
    assert await count(database, Event) == 0


async def test_a_refused_event_names_the_field(service_client: httpx.AsyncClient) -> None:
    person = await new_person(service_client)
    named: dict[str, tuple[str | None, str | None]] = {}
    batch = []
    for n, (name, (change, _)) in enumerate(REFUSED_CASES.items()):
        body = await record_one(service_client, refused_event(f"evt-one-{n:04d}", person, change))
        assert error_codes(body) == ["BAD_USER_INPUT"], name
        named[name] = (body["errors"][0]["extensions"].get("field"), None)
        batch.append(refused_event(f"evt-many-{n:04d}", person, change))
    results = await accepted_batch(service_client, batch)
    for name, result in zip(REFUSED_CASES, results, strict=True):
        assert (result["status"], result["code"]) == ("REJECTED", "BAD_USER_INPUT"), name
        named[name] = (named[name][0], result["field"])
    assert named == {name: (field, field) for name, (_, field) in REFUSED_CASES.items()}


async def test_refused_items_in_a_batch_do_not_spoil_the_others(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    batch = [
        event("evt-ok-0001", person),
        event("evt-future-0001", person, occurredAt=ahead(minutes=10)),
        event("evt-ok-0002", person),
        event("evt-big-0001", person, properties=sized(4097)),
        event("evt-deep-0001", person, properties=deep(5)),
        event("evt-ok-0003", person),
    ]
    results = await accepted_batch(service_client, batch)
    assert [(r["index"], r["eventId"], r["status"], r["code"]) for r in results] == [
        (0, "evt-ok-0001", "ACCEPTED", None),
        (1, "evt-future-0001", "REJECTED", "BAD_USER_INPUT"),
        (2, "evt-ok-0002", "ACCEPTED", None),
        (3, "evt-big-0001", "REJECTED", "BAD_USER_INPUT"),
        (4, "evt-deep-0001", "REJECTED", "BAD_USER_INPUT"),
        (5, "evt-ok-0003", "ACCEPTED", None),
    ]
    assert "occurredAt" in results[1]["message"]
    assert all("properties" in results[i]["message"] for i in (3, 4))
    assert sorted(r["event_id"] for r in await event_rows(database)) == [
        "evt-ok-0001",
        "evt-ok-0002",
        "evt-ok-0003",
    ]


async def test_events_at_the_limits_are_accepted(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    results = await accepted_batch(
        service_client,
        [
            event("evt-edge-0001", person, occurredAt=ahead(minutes=3)),  # clock skew
            event("evt-edge-0002", person, properties=sized(4096)),
            event("evt-edge-0003", person, properties=deep(4)),
            event("evt-edge-0004", person, occurredAt=ago(days=300)),
        ],
    )
    assert statuses(results) == ["ACCEPTED"] * 4, results
    assert await count(database, Event) == 4


# --- unknown identities ------------------------------------------------------------------------


async def test_events_for_an_unknown_identity_are_refused_and_never_create_a_profile(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    await new_person(service_client)
    unknown = [
        {"appId": MINI, "openId": "oMini_nobody_00000000000001"},
        # A known OpenID under another app is another identity.
        {"appId": OFFICIAL, "openId": MINI_OPEN_ID},
        {"profileId": "no-such-profile"},
    ]
    for n, who in enumerate(unknown):
        body = await record_one(service_client, event(f"evt-unknown-{n:04d}", **who))
        assert error_codes(body) == ["NOT_FOUND"], (who, body)
        assert body["data"] == {"recordEvent": None}
    assert await count(database, Profile) == 1
    assert await count(database, Event) == 0


async def test_a_batch_mixing_known_and_unknown_identities_records_the_known_ones(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    results = await accepted_batch(
        service_client,
        [
            event("evt-known-0001", appId=MINI, openId=MINI_OPEN_ID),
            event("evt-unknown-0001", appId=MINI, openId="oMini_nobody_00000000000001"),
            event("evt-known-0002", person),
            event("evt-unknown-0002", "no-such-profile"),
        ],
    )
    assert [(r["index"], r["status"], r["code"]) for r in results] == [
        (0, "ACCEPTED", None),
        (1, "REJECTED", "NOT_FOUND"),
        (2, "ACCEPTED", None),
        (3, "REJECTED", "NOT_FOUND"),
    ]
    assert await count(database, Profile) == 1
    assert sorted(r["event_id"] for r in await event_rows(database)) == [
        "evt-known-0001",
        "evt-known-0002",
    ]


# --- batch size --------------------------------------------------------------------------------


async def test_a_batch_of_100_is_accepted_and_101_is_refused_before_anything_runs(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    results = await accepted_batch(
        service_client, [event(f"evt-bulk-{n:04d}", person) for n in range(100)]
    )
    assert statuses(results) == ["ACCEPTED"] * 100
    assert [r["index"] for r in results] == list(range(100))
    assert await count(database, Event) == 100

    # Every list argument is capped (the hardening limits): the HTTP layer refuses the request.
    body = await gql(
        service_client,
        RECORD_EVENTS,
        {"input": {"events": [event(f"evt-over-{n:04d}", person) for n in range(101)]}},
        status=400,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["limit"] == "list"
    assert "data" not in body
    assert await count(database, Event) == 100


async def test_an_empty_batch_is_refused(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    body = await record_many(service_client, [])
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"recordEvents": None}


# --- other validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"type": "Article Read"}, id="type-with-capitals-and-space"),
        pytest.param({"type": ""}, id="type-empty"),
        pytest.param({"type": "t" * 65}, id="type-too-long"),
        pytest.param({"channel": "SMS"}, id="sms-channel"),
        pytest.param({"appId": MINI, "openId": MINI_OPEN_ID}, id="both-identity-forms"),
        pytest.param({"profileId": None}, id="no-identity"),
        pytest.param({"profileId": None, "openId": MINI_OPEN_ID}, id="open-id-without-app-id"),
        pytest.param({"properties": [1, 2, 3]}, id="properties-a-list"),
        pytest.param({"properties": "text"}, id="properties-a-string"),
        pytest.param({"occurredAt": "old"}, id="more-than-a-year-old"),
        pytest.param({"eventId": ""}, id="event-id-empty"),
        pytest.param({"eventId": "e" * 65}, id="event-id-too-long"),
        pytest.param({"entry": "from=article&&id=1=2"}, id="entry-malformed"),
    ],
)
async def test_bad_events_are_refused(
    service_client: httpx.AsyncClient, database: Database, change: dict[str, Any]
) -> None:
    person = await new_person(service_client)
    if change.get("occurredAt") == "old":
        change = {"occurredAt": ago(days=400)}
    bad = event("evt-bad-0001", person, **change)
    if bad.get("profileId") is None:
        bad.pop("profileId", None)

    body = await record_one(service_client, bad)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["data"] == {"recordEvent": None}

    results = await accepted_batch(service_client, [bad, event("evt-good-0001", person)])
    assert [(r["index"], r["status"], r["code"]) for r in results] == [
        (0, "REJECTED", "BAD_USER_INPUT"),
        (1, "ACCEPTED", None),
    ]
    assert [r["event_id"] for r in await event_rows(database)] == ["evt-good-0001"]
    assert await count(database, Profile) == 1


async def test_only_service_may_record_events(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.ANALYST, Role.MARKETER):
        client = client_for(role, subject=person if role is Role.CUSTOMER else None)
        body = await record_one(client, event("evt-role-0001", person))
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"recordEvent": None}
        body = await record_many(client, [event("evt-role-0002", person)])
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"recordEvents": None}
    assert await count(database, Event) == 0


# --- merges ------------------------------------------------------------------------------------


@CITUS
async def test_a_merge_carries_both_peoples_events_to_the_survivor(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    union = "oUnion_events_merge_0000001"
    older = await new_person(
        service_client, "oOffi_events_merge_000000001", channel="OFFICIAL_ACCOUNT", app_id=OFFICIAL
    )
    newer = await new_person(service_client, "oMini_events_merge_000000001", union_id=union)
    await accepted_batch(
        service_client,
        [
            event("evt-older-0001", older, channel="OFFICIAL_ACCOUNT"),
            event(
                "evt-older-0002",
                appId=OFFICIAL,
                openId="oOffi_events_merge_000000001",
                channel="OFFICIAL_ACCOUNT",
            ),
            event("evt-newer-0001", newer),
            event("evt-newer-0002", appId=MINI, openId="oMini_events_merge_000000001"),
            event("evt-newer-0003", newer, type="video_view", channel="CHANNELS"),
        ],
    )
    survivor = (
        await link(
            service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_events_merge_000000001", union
        )
    )["id"]
    assert await count(database, Profile) == 1
    survivor_id = await surrogate_id(database, survivor)
    rows = await event_rows(database)
    assert len(rows) == 5
    assert {r["profile_id"] for r in rows} == {survivor_id}

    # Events naming the merged-away profile or its identity land on the survivor too.
    loser = newer if survivor == older else older
    results = await accepted_batch(
        service_client,
        [
            event("evt-after-0001", loser),
            event("evt-after-0002", appId=MINI, openId="oMini_events_merge_000000001"),
        ],
    )
    assert statuses(results) == ["ACCEPTED", "ACCEPTED"]
    assert {r["profile_id"] for r in await event_rows(database)} == {survivor_id}
    assert await count(database, Event) == 7
