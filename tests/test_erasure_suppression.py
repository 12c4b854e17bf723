"""Suppression after an erasure: late or replayed writes, links and contact checks are
suppressed, and lifting a suppression lets the person start afresh (both databases)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.erasure_calls import LIFT, ME, MODES, erase_anna, officer, snapshot, suppressed
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
    audit_rows,
    audit_text,
    expected_suppressions,
    hashes_of,
    internal_id,
    rows_of,
    select_all,
    suppressions,
    table_counts,
)
from tests.support.people import CHANNELS_APP, MINI, OFFICIAL, WEB_APP, link

# --- late and replayed data ----------------------------------------------------------------------

CAN_CONTACT = """
query Can($id: ID!) { canContact(profileId: $id, purpose: MARKETING, channel: MINI_PROGRAM) {
  allowed reason } }
"""


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
    # The bystander's event, which queues the bystander for the audiences.
    late = {"events": counts["events"] + 1, "audience_queue": counts["audience_queue"] + 1}
    assert after == {**counts, **late}, "only the bystander's event"


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
    # Nothing but the new identity, its key, its lookup keys (public id, UnionID, the OpenID
    # alone and in its app) and the audiences' note to re-evaluate the person.
    expected = {"identities": 1, "data_keys": 1, "audience_queue": 1, "profile_keys": 4}
    assert counts == {**dict.fromkeys(counts, 0), **expected}
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
