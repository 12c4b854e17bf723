"""exportProfile: one JSON document with everything cdp holds on a person, decrypted, and
nothing of anyone else; audited, for compliance only (both databases)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.erasure_calls import EXPORT, erase, officer
from tests.support.erasure_people import ANNA, BIRTHDAY, Person
from tests.support.erasure_storage import audit_rows, audit_text, internal_id, rows_of
from tests.support.people import MINI, OFFICIAL

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

PURPOSE = "DSAR ticket CS-4512 (PIPL Art. 45)"


async def export(client: httpx.AsyncClient, profile_id: str, purpose: str = PURPOSE) -> Any:
    return await gql(client, EXPORT, {"input": {"profileId": profile_id, "purpose": purpose}})


async def exported(client_for: ClientFactory, person: Person) -> dict[str, Any]:
    body = await export(officer(client_for, "a"), person.id)
    assert "errors" not in body, body
    document: dict[str, Any] = body["data"]["exportProfile"]["document"]
    return document


async def test_the_export_holds_the_profile_and_identities_decrypted(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    document = await exported(client_for, anna)
    assert document["format"] == "cdp.export/1"
    profile = document["profile"]
    assert profile["public_id"] == anna.id
    assert profile["phone"] == "13700005555"
    assert profile["name"] == ANNA.name
    assert profile["address"] == ANNA.address
    assert profile["birthday"] == BIRTHDAY
    assert profile["union_id"] == ANNA.union_id
    assert profile["tier"] == "STANDARD"
    assert document["merged_profile_ids"] == [anna.merged_id]
    assert sorted((i["channel"], i["app_id"], i["open_id"]) for i in document["identities"]) == [
        ("MINI_PROGRAM", MINI, ANNA.mini_open_id),
        ("OFFICIAL_ACCOUNT", OFFICIAL, ANNA.official_open_id),
    ]


async def test_the_export_holds_points_coupons_and_orders(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    document = await exported(client_for, anna)
    points = document["points"]
    assert points["balance"] == 680
    assert [(e["kind"], e["points"], e["balance_after"]) for e in points["ledger"]] == [
        ("EARN", 500, 500),
        ("EARN", 300, 800),
        ("SPEND", -120, 680),
    ]
    coupons = {c["public_id"]: c for c in document["coupons"]}
    assert sorted(coupons) == sorted(anna.coupon_ids)
    redeemed, available = (coupons[i] for i in anna.coupon_ids)
    assert [redeemed["title"], available["title"]] == ANNA.coupon_titles()
    assert redeemed["redeemed_at"] and redeemed["redeemed_channel"] == "WEB"
    assert available["redeemed_at"] is None
    assert all(c["discount_fen"] == 2000 for c in coupons.values())
    orders = {o["external_id"]: o for o in document["orders"]}
    assert sorted(orders) == sorted(ANNA.order_ids())
    assert sorted(o["public_id"] for o in orders.values()) == sorted(anna.order_public_ids)
    first, second = (orders[i] for i in ANNA.order_ids())
    tea, cup = ANNA.skus()
    assert (first["channel"], first["status"], first["total_fen"]) == ("MINI_PROGRAM", "PAID", 8798)
    assert (second["channel"], second["status"], second["total_fen"]) == ("WEB", "COMPLETED", 10797)
    assert [(i["sku"], i["quantity"], i["unit_price_fen"]) for i in first["items"]] == [
        (tea, 2, 1999),
        (cup, 1, 5000),
    ]
    assert [(i["sku"], i["quantity"]) for i in second["items"]] == [(tea, 3), (cup, 1)]
    for order in (first, second):
        assert order["shipping_address"] == ANNA.address
        assert (order["entry_from"], order["entry_params"]) == ("article", {"id": "123"})
        assert (order["discount_fen"], order["shipping_fen"]) == (1000, 800)


async def test_the_export_holds_tags_consents_contacts_and_events(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    document = await exported(client_for, anna)
    assert sorted(t["tag"] for t in document["tags"]) == sorted(ANNA.tags())
    current = {(c["purpose"], c["channel"]): c["granted"] for c in document["consents"]["current"]}
    assert current == {
        **{("MARKETING", ch): True for ch in ("MINI_PROGRAM", "OFFICIAL_ACCOUNT", "CHANNELS")},
        ("MARKETING", "WEB"): True,
        ("MARKETING", "SMS"): True,
        ("ANALYTICS", "SMS"): False,
    }
    assert all(c["notice_version"] == "2026-01" for c in document["consents"]["current"])
    history = document["consents"]["history"]
    assert sorted((h["purpose"], h["channel"], h["granted"]) for h in history) == [
        ("ANALYTICS", "SMS", False),
        ("MARKETING", None, True),
    ]
    assert [(c["purpose"], c["channel"]) for c in document["contacts"]] == [
        ("MARKETING", "MINI_PROGRAM")
    ]
    events = {e["event_id"]: e for e in document["events"]}
    assert sorted(events) == sorted(ANNA.event_ids())
    for index, event_id in enumerate(ANNA.event_ids()):
        event = events[event_id]
        assert event["type"] == ["article_read", "menu_click", "video_view"][index]
        assert event["properties"] == {"article": f"anna-article-{index}"}
        assert (event["entry_from"], event["entry_params"]) == ("menu", {"type": "home"})
    assert events[ANNA.event_ids()[1]]["app_id"] == OFFICIAL


@CITUS
async def test_the_export_counts_every_row_the_person_has(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    document = await exported(client_for, anna)
    rows = await rows_of(database, await internal_id(database, anna.id))
    assert {
        "identities": len(document["identities"]),
        "points_ledger": len(document["points"]["ledger"]),
        "coupons": len(document["coupons"]),
        "orders": len(document["orders"]),
        "profile_tags": len(document["tags"]),
        "consents": len(document["consents"]["current"]),
        "consent_history": len(document["consents"]["history"]),
        "contacts": len(document["contacts"]),
        "events": len(document["events"]),
        "wechat_follows": len(document["wechat_follows"]),
        "wechat_subscribe_grants": len(document["wechat_subscribe_grants"]),
        "identity_reviews": len(document["identity_reviews"]),
        "profile_merges": len(document["merged_profile_ids"]),
        "audience_membership_changes": len(document["audience_changes"]),
    } == {
        k: v
        for k, v in rows.items()
        # The person's one-use links to their own copy are not part of it, nor the outbox
        # (what is queued to be sent, and the domain events of their changes), nor the
        # directory's hashes of their identifiers (the export holds the identifiers).
        if k
        not in (
            "data_keys",
            "points_lots",
            "audience_queue",
            "data_export_links",
            "outbox",
            "profile_keys",
        )
    }


@CITUS
async def test_the_export_holds_nothing_of_anyone_else(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, bystander = people
    text = json.dumps(await exported(client_for, anna), ensure_ascii=False)
    # The phone shows as the person knows it (13700005555), not as stored (E.164).
    for trace in (t for t in anna.traces() if t != anna.spec.e164):
        assert trace in text, f"{trace} of the person is missing"
    for trace in bystander.traces():
        assert trace not in text, f"{trace} of someone else"
    theirs = json.dumps(await exported(client_for, bystander), ensure_ascii=False)
    for trace in anna.traces():
        assert trace not in theirs


@CITUS
async def test_a_merged_profile_id_exports_the_person_it_was_merged_into(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    body = await export(officer(client_for, "a"), anna.merged_id)
    assert body["data"]["exportProfile"]["document"]["profile"]["public_id"] == anna.id


async def test_the_export_is_audited_once_with_its_purpose_and_no_personal_value(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database
) -> None:
    anna, _ = people
    before = len(await audit_rows(database))
    await exported(client_for, anna)
    added = (await audit_rows(database))[before:]
    exports = [r for r in added if r["action"] == "export"]
    assert len(exports) == 1, [r["action"] for r in added]
    [record] = exports
    assert (record["actor_subject"], record["actor_role"]) == ("officer-a", "compliance")
    assert record["purpose"] == PURPOSE and record["outcome"] == "ok"
    assert record["profile_id"] == await internal_id(database, anna.id)
    for row in added:
        text = audit_text(row)
        for canary in anna.canaries():
            assert canary not in text, (canary, row["action"])


@pytest.mark.parametrize(
    "role", [Role.SERVICE, Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.CUSTOMER]
)
async def test_only_compliance_may_export(
    people: tuple[Person, Person], client_for: ClientFactory, role: Role
) -> None:
    anna, _ = people
    client = client_for(role, subject=anna.id if role is Role.CUSTOMER else None)
    body = await export(client, anna.id)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert body["data"] == {"exportProfile": None}
    assert ANNA.phone not in json.dumps(body)


@pytest.mark.parametrize("purpose", ["", "   ", "p" * 201])
async def test_an_export_needs_a_purpose_of_one_to_two_hundred_characters(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, purpose: str
) -> None:
    anna, _ = people
    before = len(await audit_rows(database))
    body = await export(officer(client_for, "a"), anna.id, purpose)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"].get("field") == "purpose"
    assert body["data"] == {"exportProfile": None}
    assert not [
        r
        for r in (await audit_rows(database))[before:]
        if r["action"] == "export" and r["outcome"] == "ok"
    ]
    longest = await export(officer(client_for, "a"), anna.id, "p" * 200)
    assert "errors" not in longest


async def test_an_export_without_a_purpose_is_refused_before_it_runs(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    body = await gql(
        officer(client_for, "a"),
        "mutation E($id: ID!) { exportProfile(input: {profileId: $id}) { document } }",
        {"id": anna.id},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] and "data" not in body, body


async def test_exporting_an_unknown_profile_is_not_found(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    body = await export(officer(client_for, "a"), "00000000-0000-4000-8000-000000000000")
    assert error_codes(body) == ["NOT_FOUND"], body
    assert body["data"] == {"exportProfile": None}


@pytest.mark.parametrize("mode", ["DELETE", "ANONYMIZE"])
async def test_exporting_an_erased_profile_is_suppressed(
    people: tuple[Person, Person], client_for: ClientFactory, mode: str
) -> None:
    anna, bystander = people
    await erase(client_for, anna, mode)
    for profile_id in (anna.id, anna.merged_id):
        body = await export(officer(client_for, "c"), profile_id)
        assert error_codes(body) == ["SUPPRESSED"], body
        assert body["data"] == {"exportProfile": None}
    assert (await exported(client_for, bystander))["profile"]["public_id"] == bystander.id
