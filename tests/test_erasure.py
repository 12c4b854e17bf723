"""Erasure: request and approval by two officers, DELETE and ANONYMIZE leaving nothing of the
person, suppression of late data, lifting it, a resumable execution, and caches cleared
(both databases)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.app import create_app
from cdp.audit.verify import verify_chain
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.erasure import execution, purge
from cdp.erasure.execution import STEPS
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.models import metadata
from cdp.suppression.models import ErasureRequest, ErasureStatus
from cdp.unit_of_work import operator_trail
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, gql, make_settings
from tests.support.erasure_calls import (
    APPROVE,
    EXPORT,
    LIFT,
    LIST,
    LOOKUP,
    ME,
    MODES,
    REASON,
    REQUEST,
    assert_found_everywhere,
    assert_found_nowhere,
    erase,
    instant,
    officer,
    request_erasure,
    snapshot,
)
from tests.support.erasure_people import (
    ANNA,
    CONTACT,
    EARN,
    EVENT,
    EVENTS,
    ISSUE,
    LINK_ID,
    RECORD_ORDER,
    SPEND,
    TAG,
    UPDATE_CONSENTS,
    UPDATE_PROFILE,
    Person,
    Spec,
    event_input,
    ok,
    ok_query,
    order_input,
)
from tests.support.erasure_storage import (
    ERASURE_ACTIONS,
    PERSONAL_COLUMNS,
    PROFILE_TABLES,
    SEEDED,
    assert_nothing_stored,
    audit_rows,
    audit_text,
    expected_purge,
    expected_suppressions,
    hashes_of,
    internal_id,
    is_erasure,
    rows_of,
    select_all,
    suppressions,
    table,
    where_stored,
)
from tests.support.people import CHANNELS_APP, MINI, OFFICIAL, WEB_APP, link
from tests.support.raw_bytes import raw_sqlite_bytes


# --- requests and approvals ----------------------------------------------------------------------


async def test_an_erasure_request_is_pending_and_due_in_fifteen_days(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    before = datetime.now(UTC)
    opened = await request_erasure(officer(client_for, "a"), anna.id, "DELETE")
    after = datetime.now(UTC)
    assert opened["status"] == "PENDING" and opened["step"] == "REQUESTED"
    assert opened["mode"] == "DELETE" and opened["reason"] == REASON
    assert opened["requestedBy"] == "officer-a"
    assert opened["approvedBy"] is None and opened["approvedAt"] is None
    assert opened["completedAt"] is None and opened["receipt"] == {}
    assert opened["profileSurrogateId"] == await internal_id(database, anna.id)
    requested = instant(opened["requestedAt"])
    assert before <= requested <= after
    assert instant(opened["dueAt"]) - requested == timedelta(days=15)
    assert await snapshot(anna), "a request erases nothing by itself"


async def test_the_due_date_follows_the_erasure_due_days_setting(
    people: tuple[Person, Person], database: Database, database_url: str
) -> None:
    anna, _ = people
    settings = make_settings(database_url, erasure_due_days=30)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    token = issue_token(settings, role=Role.COMPLIANCE, subject="officer-a")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as officer_a:
        opened = await request_erasure(officer_a, anna.id)
    assert instant(opened["dueAt"]) - instant(opened["requestedAt"]) == timedelta(days=30)


async def test_a_second_open_request_for_the_same_person_is_a_conflict(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    await request_erasure(officer(client_for, "a"), anna.id, "DELETE")
    for who, mode in (("a", "DELETE"), ("b", "ANONYMIZE")):
        body = await gql(
            officer(client_for, who),
            REQUEST,
            {"input": {"profileId": anna.id, "mode": mode, "reason": REASON}},
        )
        assert error_codes(body) == ["CONFLICT"], body
    listed = await ok_query(officer(client_for, "a"), LIST, {})
    assert len(listed["items"]) == 1


async def test_an_officer_cannot_approve_their_own_request(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    officer_a = officer(client_for, "a")
    opened = await request_erasure(officer_a, anna.id)
    body = await gql(officer_a, APPROVE, {"input": {"requestId": opened["id"]}})
    assert error_codes(body) == ["CONFLICT"], body
    listed = await ok_query(officer_a, LIST, {})
    assert [(r["id"], r["status"], r["approvedBy"]) for r in listed["items"]] == [
        (opened["id"], "PENDING", None)
    ]
    assert await snapshot(anna), "nothing was erased"
    approvals = [r for r in await audit_rows(database) if r["action"] == "erasure.approve"]
    assert [(r["actor_subject"], r["outcome"]) for r in approvals] == [("officer-a", "conflict")]
    assert not [r for r in await audit_rows(database) if r["action"] == "erasure.collect"]


async def test_another_officer_approves_and_the_erasure_completes_with_a_receipt(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    assert {k: v for k, v in seeded.items() if k != "data_keys"} == SEEDED
    assert seeded["data_keys"] >= 1
    opened = await request_erasure(officer(client_for, "a"), anna.id, "DELETE")
    before = datetime.now(UTC)
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    after = datetime.now(UTC)
    assert done["id"] == opened["id"]
    assert done["status"] == "COMPLETED" and done["step"] == "COMPLETE"
    assert (done["requestedBy"], done["approvedBy"]) == ("officer-a", "officer-b")
    assert before <= instant(done["approvedAt"]) <= instant(done["completedAt"]) <= after
    receipt = done["receipt"]
    assert list(receipt) == list(STEPS)
    assert receipt["suppress"] == {"suppressions": 6}
    assert receipt["shred"] == {"data_keys": seeded["data_keys"]}
    assert receipt["purge"] == expected_purge(seeded, "DELETE")
    assert receipt["verify"]["clean"] is True
    assert receipt["complete"] == {
        "mode": "DELETE",
        "requestedBy": "officer-a",
        "requestedAt": done["requestedAt"],
        "approvedBy": "officer-b",
        "approvedAt": done["approvedAt"],
        "completedAt": done["completedAt"],
    }
    # The receipt keeps how many identifiers were found, never the identifiers themselves.
    assert receipt["collect"] == {
        "identifiers": {"publicIds": 2, "union": 1, "phone": 1, "openIds": 2}
    }
    receipt_text = json.dumps(receipt, ensure_ascii=False)
    for trace in [*anna.canaries(), anna.id, anna.merged_id]:
        assert trace not in receipt_text
    for value in hashes_of(anna).values():
        assert value.hex() not in receipt_text
    again = await gql(officer(client_for, "c"), APPROVE, {"input": {"requestId": opened["id"]}})
    assert error_codes(again) == ["CONFLICT"], again
    unknown = await gql(
        officer(client_for, "b"), APPROVE, {"input": {"requestId": str(uuid.uuid4())}}
    )
    assert error_codes(unknown) == ["NOT_FOUND"], unknown


async def test_officers_approving_at_once_execute_the_erasure_once(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    requests = await asyncio.gather(
        *(
            gql(
                officer(client_for, who),
                REQUEST,
                {"input": {"profileId": anna.id, "mode": "DELETE", "reason": REASON}},
            )
            for who in "ab"
        )
    )
    assert sorted(error_codes(b) for b in requests) == [[], ["CONFLICT"]], requests
    [opened] = [b["data"]["requestErasure"] for b in requests if "errors" not in b]
    approvals = await asyncio.gather(
        *(
            gql(officer(client_for, who), APPROVE, {"input": {"requestId": opened["id"]}})
            for who in "cde"
        )
    )
    outcomes = [error_codes(b) or [b["data"]["approveErasure"]["status"]] for b in approvals]
    # A later approval either finds it done (CONFLICT) or joins the run (a resume, which
    # waits for it and reports COMPLETED): the steps run once either way.
    assert all(o in (["COMPLETED"], ["CONFLICT"]) for o in outcomes), approvals
    completed, refused = outcomes.count(["COMPLETED"]), outcomes.count(["CONFLICT"])
    assert completed >= 1
    actions = [r["action"] for r in await audit_rows(database) if is_erasure(r)]
    assert {a: actions.count(a) for a in ERASURE_ACTIONS} == {
        **dict.fromkeys(ERASURE_ACTIONS, 1),
        "erasure.request": 2,  # one refused
        "erasure.approve": 1 + refused,
    }
    assert actions.count("erasure.resume") == completed - 1
    assert await suppressions(database) == expected_suppressions(anna)


async def test_erasure_requests_are_listed_by_status_newest_first_and_paged(
    people: tuple[Person, Person],
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> None:
    anna, _ = people
    others = [
        (await link(service_client, "WEB", WEB_APP, f"oListed{n:020d}"))["id"] for n in range(3)
    ]
    done = await erase(client_for, anna, "DELETE")
    pending = [
        (await request_erasure(officer(client_for, "a"), p, "ANONYMIZE"))["id"] for p in others
    ]
    officer_b = officer(client_for, "b")
    everything = await ok_query(officer_b, LIST, {})
    assert [r["id"] for r in everything["items"]] == [*reversed(pending), done["id"]]
    assert everything["pageInfo"]["hasNextPage"] is False
    completed = await ok_query(officer_b, LIST, {"status": "COMPLETED"})
    assert [(r["id"], r["status"], r["mode"], r["approvedBy"]) for r in completed["items"]] == [
        (done["id"], "COMPLETED", "DELETE", "officer-b")
    ]
    assert (await ok_query(officer_b, LIST, {"status": "EXECUTING"}))["items"] == []
    seen: list[str] = []
    after = None
    while True:
        page = await ok_query(officer_b, LIST, {"status": "PENDING", "first": 2, "after": after})
        assert all(
            r["status"] == "PENDING" and r["requestedBy"] == "officer-a" for r in page["items"]
        )
        seen += [r["id"] for r in page["items"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(pending))


def staff_calls(request_id: str, profile_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Each compliance operation, named by its root field."""
    return [
        (
            "requestErasure",
            REQUEST,
            {"input": {"profileId": profile_id, "mode": "DELETE", "reason": "r"}},
        ),
        ("approveErasure", APPROVE, {"input": {"requestId": request_id}}),
        ("erasureRequests", LIST, {}),
        ("liftSuppression", LIFT, {"input": {"reason": "r", "unionId": ANNA.union_id}}),
        ("exportProfile", EXPORT, {"input": {"profileId": profile_id, "purpose": "p"}}),
    ]


@pytest.mark.parametrize("role", [Role.SERVICE, Role.SUPPORT, Role.ANALYST, Role.CUSTOMER])
async def test_only_compliance_may_request_approve_list_lift_or_export(
    people: tuple[Person, Person], client_for: ClientFactory, role: Role
) -> None:
    anna, _ = people
    opened = await request_erasure(officer(client_for, "a"), anna.id)
    client = client_for(role, subject=anna.id if role is Role.CUSTOMER else None)
    for name, document, variables in staff_calls(opened["id"], anna.id):
        body = await gql(client, document, variables)
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["data"] == {name: None}
    listed = await ok_query(officer(client_for, "b"), LIST, {})
    assert [r["status"] for r in listed["items"]] == ["PENDING"]
    assert await snapshot(anna)


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"reason": "   "}, "BAD_USER_INPUT"),
        ({"reason": "x" * 501}, "BAD_USER_INPUT"),
        ({"profileId": "00000000-0000-4000-8000-000000000000"}, "NOT_FOUND"),
    ],
)
async def test_a_request_needs_a_reason_and_a_known_person(
    people: tuple[Person, Person], client_for: ClientFactory, given: dict[str, str], code: str
) -> None:
    anna, _ = people
    body = await gql(
        officer(client_for, "a"),
        REQUEST,
        {"input": {"profileId": anna.id, "mode": "DELETE", "reason": REASON, **given}},
    )
    assert error_codes(body) == [code], body
    assert (await ok_query(officer(client_for, "b"), LIST, {}))["items"] == []


# --- after DELETE and after ANONYMIZE ------------------------------------------------------------


async def orders_of(database: Database, spec: Spec) -> dict[str, dict[str, Any]]:
    rows = await select_all(database, "orders", table("orders").c.external_id.in_(spec.order_ids()))
    return {row["external_id"]: row for row in rows}


async def items_of(database: Database, order_ids: list[int]) -> list[tuple[Any, ...]]:
    rows = await select_all(database, "order_items", table("order_items").c.order_id.in_(order_ids))
    return sorted((r["order_id"], r["sku"], r["quantity"], r["unit_price_fen"]) for r in rows)


@dataclass
class Erased:
    profile_id: int  # the internal surrogate id
    seeded: dict[str, int]
    orders_before: dict[str, dict[str, Any]]
    profile_before: dict[str, Any]
    request: dict[str, Any]


async def erase_anna(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> Erased:
    anna, _ = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    orders_before = await orders_of(database, anna.spec)
    [profile_before] = await select_all(database, "profiles", table("profiles").c.id == profile_id)
    done = await erase(client_for, anna, mode)
    return Erased(profile_id, seeded, orders_before, profile_before, done)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_no_lookup_by_any_identifier_finds_the_person(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, bystander = people
    await assert_found_everywhere(client_for, anna)
    await erase_anna(people, client_for, database, mode)
    await assert_found_nowhere(client_for, anna)
    await assert_found_everywhere(client_for, bystander)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_database_holds_no_personal_value_or_blind_index_of_the_person(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    mode: str,
) -> None:
    anna, _ = people
    hashes = hashes_of(anna)
    before = await where_stored(database, hashes)
    assert {"profiles.phone_bidx: phone", "profiles.union_id_bidx: union"} <= set(before)
    assert {
        "identities.open_id_bidx: mini open_id",
        "identities.open_id_bidx: official open_id",
    } <= set(before)
    erased = await erase_anna(people, client_for, database, mode)
    await assert_nothing_stored(database, settings, backend, anna, erased.profile_id)
    # By design the suppression list holds the hashes (and nothing else of the person).
    kept = await where_stored(database, hashes)
    assert kept == sorted(f"suppressions.bidx: {what}" for what in hashes)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_sqlite_s_free_pages_and_wal_hold_no_byte_of_the_person(
    people: tuple[Person, Person],
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    mode: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own file and write-ahead log")
    anna, bystander = people
    # Someone who never acted themselves: their public id is in no audit record (a
    # customer's own actions name them as the actor, which the audit log keeps).
    linked = await link(service_client, "MINI_PROGRAM", MINI, "oCarolNeverSignedIn00001")
    carol = str(linked["id"])
    assert carol.encode() in raw_sqlite_bytes(settings), "public ids are stored in the clear"
    opened = await request_erasure(officer(client_for, "a"), carol, mode)
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED"
    await erase_anna(people, client_for, database, mode)
    stored = raw_sqlite_bytes(settings)
    assert bystander.id.encode() in stored, "the scan must see the live rows"
    for value in (carol, "oCarolNeverSignedIn00001", anna.merged_id, *anna.canaries()):
        assert value.encode() not in stored, f"{value} left in the file or its WAL"
    wal = Path(f"{settings.database_url.split('///', 1)[1]}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL is checkpointed and truncated"


async def test_after_erasure_the_sqlite_key_store_s_file_and_wal_hold_no_byte_of_the_keys(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own file and write-ahead log")
    anna, bystander = people
    path = Path(settings.keystore_database_url.split("///", 1)[1])

    def wrapped_keys(person_id: int) -> list[bytes]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT wrapped FROM data_keys WHERE profile_id = ?", (person_id,))
            return [bytes(r[0]) for r in rows]

    def stored() -> bytes:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())

    anna_keys = wrapped_keys(await internal_id(database, anna.id))
    kept = wrapped_keys(await internal_id(database, bystander.id))
    assert anna_keys and kept and all(k in stored() for k in anna_keys)
    await erase_anna(people, client_for, database, "DELETE")
    after = stored()
    assert all(k in after for k in kept), "the scan must see the live keys"
    assert not [k for k in anna_keys if k in after], "a shredded key left in the file or WAL"


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_kept_orders_hold_no_personal_field(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    erased = await erase_anna(people, client_for, database, mode)
    before = erased.orders_before
    assert all(row["shipping_address_ct"] for row in before.values()), "seeded with addresses"
    after = await orders_of(database, anna.spec)
    assert sorted(after) == sorted(before), "orders stay for accounting"
    accounting = (
        "public_id",
        "channel",
        "status",
        "items_fen",
        "discount_fen",
        "shipping_fen",
        "total_fen",
        "paid_at",
        "entry_from",
        "entry_params",
    )
    for external_id, row in after.items():
        assert {k: row[k] for k in accounting} == {k: before[external_id][k] for k in accounting}
        assert row["shipping_address_ct"] is None
    ids = [row["id"] for row in after.values()]
    assert len(await items_of(database, ids)) == 4, "line items stay"
    if mode == "DELETE":
        tombstones = {row["buyer_tombstone"] for row in after.values()}
        assert all(row["profile_id"] is None for row in after.values())
        assert len(tombstones) == 1 and None not in tombstones
        assert tombstones != {anna.id} and tombstones != {anna.merged_id}
        assert (
            await select_all(database, "profiles", table("profiles").c.id == erased.profile_id)
            == []
        )
    else:
        assert all(row["profile_id"] == erased.profile_id for row in after.values())
        [profile] = await select_all(
            database, "profiles", table("profiles").c.id == erased.profile_id
        )
        assert {c: profile[c] for c in PERSONAL_COLUMNS} == dict.fromkeys(PERSONAL_COLUMNS)
        assert all(erased.profile_before[c] is not None for c in PERSONAL_COLUMNS), "seeded"
        assert profile["public_id"] not in (anna.id, anna.merged_id)
        assert profile["tier"] == erased.profile_before["tier"], "kept for aggregates"
        events = await select_all(
            database, "events", table("events").c.profile_id == erased.profile_id
        )
        assert len(events) == 3 and all(e["properties"] == {} for e in events)
        for name in PROFILE_TABLES:
            if name not in ("orders", "events"):
                assert (
                    await select_all(database, name, table(name).c.profile_id == erased.profile_id)
                    == []
                ), name


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_other_person_is_untouched_and_still_readable(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    _, bystander = people
    their_id = await internal_id(database, bystander.id)
    rows_before = await rows_of(database, their_id)
    seen_before = await snapshot(bystander)
    assert (
        seen_before["phone"] == bystander.spec.phone and seen_before["name"] == bystander.spec.name
    )
    await erase_anna(people, client_for, database, mode)
    assert await rows_of(database, their_id) == rows_before
    assert await snapshot(bystander) == seen_before
    staff = await ok_query(
        client_for(Role.SERVICE),
        LOOKUP.replace("{ id }", "{ id unionId identities { openId } }"),
        {"id": bystander.id},
    )
    assert staff["unionId"] == bystander.spec.union_id
    assert len(staff["identities"]) == 2
    await ok(
        client_for(Role.SERVICE),
        EARN,
        {"profileId": bystander.id, "points": 5, "idempotencyKey": "bob-after"},
    )


@pytest.mark.parametrize("mode", MODES)
async def test_the_audit_log_records_request_approval_steps_and_execution_without_personal_values(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    erased = await erase_anna(people, client_for, database, mode)
    rows = await audit_rows(database)
    erasure = [r for r in rows if is_erasure(r)]
    assert [r["action"] for r in erasure] == ERASURE_ACTIONS
    assert all(r["outcome"] == "ok" for r in erasure), erasure
    assert all(r["profile_id"] == erased.profile_id for r in erasure)
    assert all(r["detail"]["request"] == erased.request["id"] for r in erasure)
    assert [r["actor_subject"] for r in erasure] == ["officer-a"] + ["officer-b"] * 7
    assert all(r["actor_role"] == "compliance" for r in erasure)
    steps = {r["detail"]["step"]: r["detail"].get("result") for r in erasure[2:]}
    assert list(steps) == list(STEPS)
    assert steps["purge"] == expected_purge(erased.seeded, mode)
    hashes = hashes_of(anna)
    for row in rows:
        text = audit_text(row)
        for canary in anna.canaries():
            assert canary not in text, (canary, row["action"])
        for h in hashes.values():
            assert h.hex() not in text, row["action"]
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact


# --- late and replayed data ----------------------------------------------------------------------

CAN_CONTACT = """
query Can($id: ID!) { canContact(profileId: $id, purpose: MARKETING, channel: MINI_PROGRAM) {
  allowed reason } }
"""


async def table_counts(database: Database) -> dict[str, int]:
    """Rows per table, but the audit log (refusals are audited)."""
    return {
        name: len(await select_all(database, name))
        for name in metadata.tables
        if name != "audit_events"
    }


def late_writes(spec: Spec, profile_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every ingest that names a profile by its id, new and replayed."""
    return [
        (RECORD_ORDER, order_input(spec, profile_id, 0)),  # a replay
        (RECORD_ORDER, {**order_input(spec, profile_id, 1), "externalId": f"{spec.key}-late"}),
        (EARN, {"profileId": profile_id, "points": 10, "idempotencyKey": f"{spec.key}-e1"}),
        (EARN, {"profileId": profile_id, "points": 10, "idempotencyKey": f"{spec.key}-late"}),
        (SPEND, {"profileId": profile_id, "points": 1, "idempotencyKey": f"{spec.key}-late-s"}),
        (
            ISSUE,
            {"profileId": profile_id, "title": "late", "discountFen": 1, "idempotencyKey": "l"},
        ),
        (TAG, {"profileId": profile_id, "tag": "late-tag"}),
        (CONTACT, {"profileId": profile_id, "purpose": "MARKETING", "channel": "MINI_PROGRAM"}),
        (EVENT, {**event_input(spec, profile_id, 2), "eventId": f"{spec.key}-late-1"}),
        (EVENT, event_input(spec, profile_id, 2)),  # a replay
    ]


def suppressed(body: dict[str, Any]) -> bool:
    return error_codes(body) == ["SUPPRESSED"] and all(v is None for v in body["data"].values())


@pytest.mark.parametrize("mode", MODES)
async def test_late_or_replayed_orders_points_tags_contacts_and_events_are_suppressed(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, bystander = people
    await erase_anna(people, client_for, database, mode)
    counts = await table_counts(database)
    service = client_for(Role.SERVICE)
    for profile_id in (anna.id, anna.merged_id):
        for document, given in late_writes(anna.spec, profile_id):
            body = await gql(service, document, {"input": given})
            assert suppressed(body), (document, given, body)
            for trace in anna.canaries():
                assert trace not in json.dumps(body, ensure_ascii=False)
    for who in (
        {"appId": MINI, "openId": anna.spec.mini_open_id},
        {"appId": OFFICIAL, "openId": anna.spec.official_open_id},
    ):
        for index in (0, 1):  # a replay and a late one
            late = {
                **event_input(anna.spec, anna.id, 0),
                **who,
                "eventId": f"ev-{index}-{who['appId']}",
            }
            if index == 0:
                late["eventId"] = anna.spec.event_ids()[0]
            late.pop("profileId", None)
            body = await gql(service, EVENT, {"input": late})
            assert suppressed(body), (late, body)
    batch = [
        {**event_input(anna.spec, anna.id, 0), "eventId": "late-batch-1"},
        {**event_input(anna.spec, anna.id, 1), "eventId": "late-batch-2"},
        {**event_input(anna.spec, anna.id, 2), "eventId": "late-batch-3"},
        {**event_input(anna.spec, anna.merged_id, 2), "eventId": "late-batch-4"},
        {**event_input(bystander.spec, bystander.id, 2), "eventId": "late-batch-5"},
        {
            **event_input(anna.spec, anna.id, 0),
            "openId": "oNeverSeen00000000000000001",
            "eventId": "late-batch-6",
        },
    ]
    results = await ok(service, EVENTS, {"events": batch})
    assert [(r["status"], r["code"]) for r in results] == [
        ("REJECTED", "SUPPRESSED"),
        ("REJECTED", "SUPPRESSED"),
        ("REJECTED", "SUPPRESSED"),
        ("REJECTED", "SUPPRESSED"),
        ("ACCEPTED", None),
        ("REJECTED", "NOT_FOUND"),
    ]
    for document, given in (
        (UPDATE_PROFILE, {"phone": ANNA.phone, "name": ANNA.name}),
        (UPDATE_CONSENTS, {"consents": [{"purpose": "MARKETING", "granted": True}]}),
    ):
        body = await gql(anna.customer, document, {"input": given})
        assert error_codes(body) in (["NOT_FOUND"], ["SUPPRESSED"]), body
    after = await table_counts(database)
    assert after == {**counts, "events": counts["events"] + 1}, "only the bystander's event"


@pytest.mark.parametrize("mode", MODES)
async def test_linking_an_erased_open_id_or_union_id_is_suppressed_and_creates_nobody(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    await erase_anna(people, client_for, database, mode)
    counts = await table_counts(database)
    s = anna.spec
    attempts = [
        ("MINI_PROGRAM", MINI, s.mini_open_id, None),
        ("MINI_PROGRAM", MINI, s.mini_open_id, s.union_id),
        ("OFFICIAL_ACCOUNT", OFFICIAL, s.official_open_id, None),
        ("OFFICIAL_ACCOUNT", OFFICIAL, s.official_open_id, "oSomeOtherUnion000000000001"),
        ("CHANNELS", CHANNELS_APP, "oChanBrandNew00000000000001", s.union_id),
        ("WEB", WEB_APP, "oWebBrandNew000000000000001", s.union_id),
    ]
    service = client_for(Role.SERVICE)
    for channel, app_id, open_id, union_id in attempts:
        given = {"channel": channel, "appId": app_id, "openId": open_id, "unionId": union_id}
        body = await gql(service, LINK_ID, {"input": given})
        assert suppressed(body), (given, body)
    assert await table_counts(database) == counts, "no profile, identity or key was created"


@pytest.mark.parametrize("mode", MODES)
async def test_can_contact_an_erased_person_is_refused_as_suppressed(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, bystander = people
    service = client_for(Role.SERVICE)
    before = await ok_query(service, CAN_CONTACT, {"id": anna.id})
    assert before["reason"] != "SUPPRESSED"  # (the marketing cap, as she was contacted today)
    await erase_anna(people, client_for, database, mode)
    for profile_id in (anna.id, anna.merged_id):
        decision = await ok_query(service, CAN_CONTACT, {"id": profile_id})
        assert decision == {"allowed": False, "reason": "SUPPRESSED"}
    unknown = await gql(service, CAN_CONTACT, {"id": "00000000-0000-4000-8000-000000000000"})
    assert error_codes(unknown) == ["NOT_FOUND"]
    other = await ok_query(service, CAN_CONTACT, {"id": bystander.id})
    assert other["reason"] != "SUPPRESSED"


# --- lifting a suppression -----------------------------------------------------------------------

RETURNING = "returning customer consented afresh, ticket CS-9001"


async def lift(client: httpx.AsyncClient, **given: str) -> dict[str, Any]:
    return await ok(client, LIFT, {"reason": RETURNING, **given})  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
async def test_lifting_the_union_id_and_open_id_lets_the_person_start_a_new_empty_profile(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    erased = await erase_anna(people, client_for, database, mode)
    officer_c, service, s = officer(client_for, "c"), client_for(Role.SERVICE), anna.spec
    mini = {
        "channel": "MINI_PROGRAM",
        "appId": MINI,
        "openId": s.mini_open_id,
        "unionId": s.union_id,
    }
    assert await lift(officer_c, unionId=s.union_id) == {"kind": "UNION_ID", "lifted": True}
    assert suppressed(await gql(service, LINK_ID, {"input": mini})), "the OpenID is still refused"
    assert await lift(officer_c, openId=s.mini_open_id) == {"kind": "OPEN_ID", "lifted": True}
    profiles_before = len(await select_all(database, "profiles"))
    fresh = await link(service, "MINI_PROGRAM", MINI, s.mini_open_id, s.union_id)
    assert fresh["id"] not in (anna.id, anna.merged_id)
    assert fresh["unionId"] == s.union_id
    assert fresh["identities"] == [
        {"channel": "MINI_PROGRAM", "appId": MINI, "openId": s.mini_open_id}
    ]
    assert len(await select_all(database, "profiles")) == profiles_before + 1
    fresh_id = await internal_id(database, fresh["id"])
    assert fresh_id != erased.profile_id
    me = await ok_query(client_for(Role.CUSTOMER, subject=fresh["id"]), ME, {})
    assert (me["phone"], me["name"], me["address"], me["birthday"]) == (None, None, None, None)
    assert me["points"] == {"balance": 0, "history": {"items": []}}
    assert me["coupons"] == {"items": []} and me["orders"] == {"items": []}
    assert me["tags"] == {"items": []}
    assert me["consents"]["history"] == {"items": []}
    assert not any(c["explicit"] for c in me["consents"]["current"])
    counts = await rows_of(database, fresh_id)
    assert counts == {**dict.fromkeys(counts, 0), "identities": 1, "data_keys": 1}
    # What was not lifted stays refused.
    official = {"channel": "OFFICIAL_ACCOUNT", "appId": OFFICIAL, "openId": s.official_open_id}
    assert suppressed(await gql(service, LINK_ID, {"input": official}))
    earn = {"profileId": anna.id, "points": 1, "idempotencyKey": "after-lift"}
    assert suppressed(await gql(service, EARN, {"input": earn}))
    h = hashes_of(anna)
    assert await suppressions(database) == sorted(
        [
            ("PHONE", h["phone"]),
            ("OPEN_ID", h["official open_id"]),
            ("PROFILE", h["profile id"]),
            ("PROFILE", h["merged profile id"]),
        ]
    )
    lifts = [r for r in await audit_rows(database) if r["action"] == "suppression.lift"]
    assert [(r["actor_subject"], r["outcome"], r["purpose"], r["detail"]) for r in lifts] == [
        ("officer-c", "ok", RETURNING, {"kind": "UNION_ID"}),
        ("officer-c", "ok", RETURNING, {"kind": "OPEN_ID"}),
    ]
    for row in lifts:
        for canary in anna.canaries():
            assert canary not in audit_text(row)


async def test_lifting_what_is_not_suppressed_lifts_nothing(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, bystander = people
    officer_c = officer(client_for, "c")
    b = bystander.spec
    assert await lift(officer_c, unionId=b.union_id) == {"kind": "UNION_ID", "lifted": False}
    assert await lift(officer_c, openId=b.mini_open_id) == {"kind": "OPEN_ID", "lifted": False}
    assert await lift(officer_c, phone=b.phone) == {"kind": "PHONE", "lifted": False}
    assert await lift(officer_c, profileId=bystander.id) == {"kind": "PROFILE", "lifted": False}
    await erase_anna(people, client_for, database, "DELETE")
    assert await lift(officer_c, phone="137 0000 5555") == {"kind": "PHONE", "lifted": True}
    assert await lift(officer_c, phone=anna.spec.e164) == {"kind": "PHONE", "lifted": False}
    assert await lift(officer_c, profileId=anna.merged_id) == {"kind": "PROFILE", "lifted": True}
    assert await lift(officer_c, profileId=anna.merged_id) == {"kind": "PROFILE", "lifted": False}
    outcomes = [
        (r["outcome"], r["detail"]["kind"])
        for r in await audit_rows(database)
        if r["action"] == "suppression.lift"
    ]
    assert outcomes == [
        ("not_found", "UNION_ID"),
        ("not_found", "OPEN_ID"),
        ("not_found", "PHONE"),
        ("not_found", "PROFILE"),
        ("ok", "PHONE"),
        ("not_found", "PHONE"),
        ("ok", "PROFILE"),
        ("not_found", "PROFILE"),
    ]
    assert await snapshot(bystander)


@pytest.mark.parametrize(
    "given",
    [
        {"reason": RETURNING},
        {"reason": RETURNING, "unionId": ANNA.union_id, "openId": ANNA.mini_open_id},
        {"reason": "   ", "unionId": ANNA.union_id},
        {"reason": "r" * 201, "unionId": ANNA.union_id},
    ],
)
async def test_a_lift_names_exactly_one_identifier_and_a_reason(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    given: dict[str, str],
) -> None:
    await erase_anna(people, client_for, database, "DELETE")
    body = await gql(officer(client_for, "c"), LIFT, {"input": given})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await suppressions(database) == expected_suppressions(people[0])


# --- a resumable execution -----------------------------------------------------------------------


def previous(step: str) -> str:
    index = STEPS.index(step)
    return STEPS[index - 1] if index else "requested"


def crash_once(monkeypatch: pytest.MonkeyPatch, step: str, when: str = "before") -> list[str]:
    """Make `step` die once, before or after doing its work; the calls made to it."""
    real = execution.RUN[step]
    calls: list[str] = []

    async def crashing(
        session: AsyncSession, vault: Vault, request: ErasureRequest
    ) -> dict[str, Any]:
        calls.append(step)
        if len(calls) == 1:
            if when == "after":
                await real(session, vault, request)
            raise RuntimeError(f"the process died {when} {step}")
        return await real(session, vault, request)

    monkeypatch.setitem(execution.RUN, step, crashing)
    return calls


async def approve_and_crash(
    client_for: ClientFactory, database: Database, person: Person, mode: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Request and approve an erasure that crashes; the request and its stored row."""
    opened = await request_erasure(officer(client_for, "a"), person.id, mode)
    body = await gql(officer(client_for, "b"), APPROVE, {"input": {"requestId": opened["id"]}})
    assert error_codes(body) == ["INTERNAL"], body
    [stuck] = await select_all(
        database, "erasure_requests", table("erasure_requests").c.public_id == opened["id"]
    )
    return opened, stuck


async def rerun(database: Database, request_id: int) -> ErasureRequest:
    """What an operator does after a crash: run the remaining steps."""
    keystore = KeyStore(database.settings)
    try:
        return await execution.execute_erasure(
            database,
            KeyringSource.fixed(TEST_KEYRING),
            keystore=keystore,
            request_id=request_id,
            trail=lambda: operator_trail(TEST_KEYRING, "rerun"),
        )
    finally:
        await keystore.dispose()


CRASHES = [
    *((step, when, "DELETE") for step in STEPS for when in ("before", "after")),
    # The mode changes what purging and verifying do.
    *((step, when, "ANONYMIZE") for step in ("purge", "verify") for when in ("before", "after")),
]


@pytest.mark.parametrize(("step", "when", "mode"), CRASHES)
async def test_an_erasure_that_crashes_at_any_step_converges_when_rerun(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    when: str,
    mode: str,
) -> None:
    """The step crashes once, before or after doing its work (in its transaction); a rerun
    picks up where it stopped and ends as an uninterrupted run does."""
    anna, bystander = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    seen_bystander = await snapshot(bystander)
    calls = crash_once(monkeypatch, step, when)
    opened, stuck = await approve_and_crash(client_for, database, anna, mode)
    assert (str(stuck["status"]), stuck["step"]) == ("EXECUTING", previous(step))

    done = await rerun(database, stuck["id"])
    assert calls == [step, step]
    assert done.status is ErasureStatus.COMPLETED and done.step == "complete"
    receipt = done.receipt
    assert list(receipt) == list(STEPS)
    assert receipt["collect"] == {
        "identifiers": {"publicIds": 2, "union": 1, "phone": 1, "openIds": 2}
    }
    assert receipt["suppress"] == {"suppressions": 6}
    # The key store commits on its own: a shred that crashed after destroying the keys left
    # none for the rerun to count (they are gone either way, as the scan checks).
    shredded = 0 if (step, when) == ("shred", "after") else seeded["data_keys"]
    assert receipt["shred"] == {"data_keys": shredded}
    assert receipt["purge"] == expected_purge(seeded, mode)
    assert receipt["verify"]["clean"] is True
    assert (receipt["complete"]["requestedBy"], receipt["complete"]["approvedBy"]) == (
        "officer-a",
        "officer-b",
    )
    await assert_nothing_stored(database, settings, backend, anna, profile_id)
    await assert_found_nowhere(client_for, anna)
    assert await snapshot(bystander) == seen_bystander
    listed = await ok_query(officer(client_for, "a"), LIST, {"status": "COMPLETED"})
    assert [r["id"] for r in listed["items"]] == [opened["id"]]
    # Each step is recorded once: the crashed attempt's record went with its transaction.
    erasure = [r for r in await audit_rows(database) if is_erasure(r)]
    assert [r["action"] for r in erasure] == ERASURE_ACTIONS
    crashed_at = 2 + STEPS.index(step)
    assert [r["actor_subject"] for r in erasure] == (
        ["officer-a"] + ["officer-b"] * (crashed_at - 1) + ["rerun"] * (8 - crashed_at)
    )
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact


LATE_OPEN_ID = "oChanLinkedLate000000000001"


async def test_an_open_id_that_was_the_persons_when_purged_ends_suppressed(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna, _ = people
    crash_once(monkeypatch, "suppress")
    _, stuck = await approve_and_crash(client_for, database, anna, "DELETE")
    service = client_for(Role.SERVICE)
    late = {"channel": "CHANNELS", "appId": CHANNELS_APP, "openId": LATE_OPEN_ID}
    linked = await gql(service, LINK_ID, {"input": {**late, "unionId": ANNA.union_id}})
    # Refused while the erasure runs (nothing is written to a person being erased), or
    # linked to them before: either way the person comes back under no identifier.
    assert (
        suppressed(linked)
        if "errors" in linked
        else (linked["data"]["linkIdentity"]["id"] == anna.id)
    ), linked
    done = await rerun(database, stuck["id"])
    assert done.status is ErasureStatus.COMPLETED
    counts = await table_counts(database)
    for given in ({**late, "unionId": ANNA.union_id}, *([] if "errors" in linked else [late])):
        body = await gql(service, LINK_ID, {"input": given})
        assert suppressed(body), body
    assert await table_counts(database) == counts, "no profile was recreated"


async def test_a_write_after_the_shred_does_not_stop_the_erasure_converging(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna, _ = people
    profile_id = await internal_id(database, anna.id)
    crash_once(monkeypatch, "purge")
    _, stuck = await approve_and_crash(client_for, database, anna, "DELETE")
    late_order = {**order_input(ANNA, anna.id, 0), "externalId": "anna-while-erasing"}
    await gql(anna.customer, UPDATE_PROFILE, {"input": {"phone": "13700006666"}})
    await gql(client_for(Role.SERVICE), RECORD_ORDER, {"input": late_order})
    for _ in range(2):  # an operator may well try twice
        try:
            done = await rerun(database, stuck["id"])
            break
        except execution.ErasureIncomplete:
            done = None
    assert done is not None and done.status is ErasureStatus.COMPLETED
    assert done.receipt["verify"]["clean"] is True
    assert (
        await select_all(database, "data_keys", table("data_keys").c.profile_id == profile_id) == []
    )
    assert await ok_query(client_for(Role.SUPPORT), LOOKUP, {"phone": "13700006666"}) is None
    for row in await select_all(
        database, "orders", table("orders").c.external_id == "anna-while-erasing"
    ):
        assert row["shipping_address_ct"] is None and row["profile_id"] is None


@pytest.mark.parametrize("mode", MODES)
async def test_an_erasure_follows_the_person_into_the_profile_they_were_merged_into(
    service_client: httpx.AsyncClient, client_for: ClientFactory, mode: str
) -> None:
    official_open_id, mini_open_id = "oOffiMergedLater00000000001", "oMiniMergedLater00000000001"
    union_id, phone = "oUnionMergedLater0000000001", "13700008888"
    older = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, official_open_id)
    newer = await link(service_client, "MINI_PROGRAM", MINI, mini_open_id, union_id)
    customer = client_for(Role.CUSTOMER, subject=newer["id"])
    await ok(customer, UPDATE_PROFILE, {"phone": phone, "name": "上官后合并"})
    opened = await request_erasure(officer(client_for, "a"), newer["id"], mode)
    merged = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, official_open_id, union_id)
    assert merged["id"] == older["id"] and len(merged["identities"]) == 2
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED" and done["receipt"]["verify"]["clean"] is True
    assert done["receipt"]["purge"]["identities"] == 2
    for given in (
        {"unionId": union_id},
        {"openId": mini_open_id},
        {"openId": official_open_id},
        {"phone": phone},
        {"id": newer["id"]},
        {"id": older["id"]},
    ):
        assert await ok_query(client_for(Role.SERVICE), LOOKUP, given) is None, given


# --- every table is accounted for ----------------------------------------------------------------

NAMED = {purge.table_of(m).name for m in (*purge.PURGED, *purge.KEPT)} | set(purge.SPECIAL)
WITH_PROFILE_ID = sorted(name for name, t in metadata.tables.items() if "profile_id" in t.c)


def test_the_tables_holding_a_profile_id_are_the_known_ones() -> None:
    in_database = [t for t in PROFILE_TABLES if t != "data_keys"]  # that one: the key store
    assert sorted([*in_database, "audit_events", "erasure_requests"]) == WITH_PROFILE_ID, (
        "a new table holds a profile_id: name it in cdp.erasure.purge and in PROFILE_TABLES"
    )


@pytest.mark.parametrize("name", WITH_PROFILE_ID)
def test_every_table_with_a_profile_id_is_purged_kept_or_special(name: str) -> None:
    assert name in NAMED


# --- caches --------------------------------------------------------------------------------------

SAME_REQUEST = """
mutation Same($requestId: ID!, $profileId: ID!) {
  before: exportProfile(input: {profileId: $profileId, purpose: "before"}) { document }
  approveErasure(input: {requestId: $requestId}) { status }
  after: exportProfile(input: {profileId: $profileId, purpose: "after"}) { document }
  again: requestErasure(input: {profileId: $profileId, mode: DELETE, reason: "again"}) { id }
}
"""


@pytest.mark.parametrize("mode", MODES)
async def test_nothing_erased_is_served_later_in_the_same_request_or_process(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    """earnPoints is not open to compliance, so the later fields are the compliance ones that
    read or name the person: exportProfile and requestErasure."""
    anna, _ = people
    opened = await request_erasure(officer(client_for, "a"), anna.id, mode)
    officer_b = officer(client_for, "b")
    body = await gql(officer_b, SAME_REQUEST, {"requestId": opened["id"], "profileId": anna.id})
    assert body["data"]["before"]["document"]["profile"]["phone"] == ANNA.phone
    assert body["data"]["approveErasure"] == {"status": "COMPLETED"}
    assert body["data"]["after"] is None and body["data"]["again"] is None
    assert sorted((e["path"][0], e["extensions"]["code"]) for e in body["errors"]) == [
        ("after", "SUPPRESSED"),
        ("again", "SUPPRESSED"),
    ]
    assert ANNA.phone not in json.dumps(body["errors"])
    assert await ok_query(officer_b, LOOKUP, {"id": anna.id}) is None
    earn = {"profileId": anna.id, "points": 10, "idempotencyKey": "same-process"}
    assert suppressed(await gql(client_for(Role.SERVICE), EARN, {"input": earn}))
