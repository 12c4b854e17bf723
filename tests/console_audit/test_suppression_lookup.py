"""`suppression`: compliance looks one identifier up on the suppression list and learns whether
it is suppressed, since when and by which erasure request, never more of the identifier than
it asked; the lookup is audited by the identifier's kind alone, with no value and no purpose;
no other role may look (both databases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes
from tests.support.audit_log import Person, audit_rows, call, only_record
from tests.support.erasure_calls import APPROVE, LIFT, REQUEST, officer

LOOK = """
query Look($unionId: String, $openId: String, $phone: String, $profileId: ID) {
  suppression(unionId: $unionId, openId: $openId, phone: $phone, profileId: $profileId) {
    kind suppressed since requestId
  }
}
"""
ALICE_OPEN_ID = f"oAuditPerson{1:016d}"  # as tests.support.audit_log.person links her
ALICE_UNION_ID = f"uAuditPerson{1:016d}"


async def erase(client_for: ClientFactory, person: Person) -> dict[str, Any]:
    """Officer A requests the erasure, officer B approves it: the completed request."""
    given = {"profileId": person.public_id, "mode": "DELETE", "reason": "工单 DSR-19"}
    body, _ = await call(officer(client_for, "a"), REQUEST, {"input": given})
    assert "errors" not in body, body
    opened = body["data"]["requestErasure"]
    body, _ = await call(officer(client_for, "b"), APPROVE, {"input": {"requestId": opened["id"]}})
    assert "errors" not in body, body
    done: dict[str, Any] = body["data"]["approveErasure"]
    assert done["status"] == "COMPLETED", done
    return done


async def look(client: httpx.AsyncClient, **given: str) -> tuple[dict[str, Any], str]:
    body, request_id = await call(client, LOOK, given)
    assert "errors" not in body, body
    return body["data"]["suppression"], request_id


@pytest.fixture
async def erased(
    alice: Person, bob: Person, client_for: ClientFactory
) -> tuple[Person, dict[str, Any]]:
    return alice, await erase(client_for, alice)


async def test_an_erased_persons_identifiers_are_found_with_the_request_that_listed_them(
    erased: tuple[Person, dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    alice, request = erased
    for kind, given in (
        ("PHONE", {"phone": "13700000001"}),
        ("PHONE", {"phone": "+86 137-0000-0001"}),
        ("PHONE", {"phone": "137 0000 0001"}),
        ("UNION_ID", {"unionId": ALICE_UNION_ID}),
        ("OPEN_ID", {"openId": f" {ALICE_OPEN_ID} "}),
        ("PROFILE", {"profileId": alice.public_id}),
    ):
        answer, _ = await look(compliance_client, **given)
        assert answer["kind"] == kind and answer["suppressed"] is True, given
        assert answer["requestId"] == request["id"]
        since = datetime.fromisoformat(answer["since"])
        assert since.tzinfo is not None
        assert abs(since - datetime.now(UTC)) < timedelta(minutes=5)
        # The answer names the identifier's kind, never its value.
        assert [v for v in given.values() if v.strip() in json.dumps(answer)] == []


async def test_an_identifier_not_on_the_list_is_not_suppressed(
    erased: tuple[Person, dict[str, Any]], bob: Person, compliance_client: httpx.AsyncClient
) -> None:
    for kind, given in (
        ("PHONE", {"phone": "13700000002"}),  # bob's, not erased
        ("UNION_ID", {"unionId": "uNobody000000000000000000001"}),
        ("OPEN_ID", {"openId": f"oAuditPerson{2:016d}"}),
        ("PROFILE", {"profileId": bob.public_id}),
    ):
        answer, _ = await look(compliance_client, **given)
        assert answer == {"kind": kind, "suppressed": False, "since": None, "requestId": None}


async def test_a_lifted_identifier_is_no_longer_suppressed(
    erased: tuple[Person, dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    body, _ = await call(
        compliance_client, LIFT, {"input": {"phone": "13700000001", "reason": "本人回归 T-20"}}
    )
    assert body["data"]["liftSuppression"] == {"kind": "PHONE", "lifted": True}
    answer, _ = await look(compliance_client, phone="13700000001")
    assert answer["suppressed"] is False
    answer, _ = await look(compliance_client, unionId=ALICE_UNION_ID)
    assert answer["suppressed"] is True


async def test_a_lookup_is_audited_by_kind_with_no_value_and_no_purpose(
    database: Database, erased: tuple[Person, dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    _, found = await look(compliance_client, phone="13700000001")
    _, missed = await look(compliance_client, phone="13900009876")
    _, by_union = await look(compliance_client, unionId=ALICE_UNION_ID)
    rows = [await only_record(database, r) for r in (found, missed, by_union)]
    assert [
        (r["actor_subject"], r["action"], r["outcome"], r["purpose"], r["detail"], r["profile_id"])
        for r in rows
    ] == [
        ("compliance-test", "suppression.read", "ok", None, {"kind": "PHONE"}, None),
        ("compliance-test", "suppression.read", "not_found", None, {"kind": "PHONE"}, None),
        ("compliance-test", "suppression.read", "ok", None, {"kind": "UNION_ID"}, None),
    ]
    everything = json.dumps(
        [{k: v for k, v in r.items() if k not in ("hash", "prev_hash")} for r in rows],
        default=str,
        ensure_ascii=False,
    )
    for value in ("13700000001", "8613700000001", "13900009876", ALICE_UNION_ID):
        assert value not in everything


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.CUSTOMER, Role.ANALYST, Role.MARKETER, Role.SERVICE]
)
async def test_only_compliance_may_look_up_the_suppression_list(
    database: Database, client_for: ClientFactory, role: Role
) -> None:
    body, request_id = await call(client_for(role), LOOK, {"phone": "13700000001"})
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"suppression": None}
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"]) == (
        role.value,
        "query.suppression",
        "forbidden",
    )
    assert "13700000001" not in json.dumps(row, default=str)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, None),
        ({"phone": "13700000001", "unionId": ALICE_UNION_ID}, None),
        ({"phone": "12"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"unionId": "   "}, "unionId"),
        ({"openId": "o" * 129}, "openId"),
        ({"profileId": "bad\u0000id"}, "profileId"),
    ],
)
async def test_a_bad_lookup_is_refused_with_a_code_and_audited_as_refused(
    database: Database,
    compliance_client: httpx.AsyncClient,
    given: dict[str, str],
    field: str | None,
) -> None:
    body, request_id = await call(compliance_client, LOOK, given)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["data"] == {"suppression": None}
    assert body["errors"][0]["extensions"].get("field") == field
    row = await only_record(database, request_id)
    assert (row["action"], row["outcome"], row["detail"]) == (
        "suppression.read",
        "bad_user_input",
        {},
    )
    assert len(await audit_rows(database)) == 1
