"""Erasure requests: pending and due, one open request per person, approval by a second officer,
executing once, listing, who may ask, and what a request needs (both databases)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.erasure.execution import STEPS
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, gql, make_settings
from tests.support.erasure_calls import (
    APPROVE,
    EXPORT,
    LIFT,
    LIST,
    REASON,
    REQUEST,
    erase,
    instant,
    officer,
    request_erasure,
    snapshot,
)
from tests.support.erasure_people import ANNA, Person, ok, ok_query
from tests.support.erasure_storage import (
    ERASURE_ACTIONS,
    SEEDED,
    audit_rows,
    expected_purge,
    expected_suppressions,
    hashes_of,
    internal_id,
    is_erasure,
    rows_of,
    suppressions,
)
from tests.support.people import WEB_APP, link

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


@pytest.mark.parametrize(
    "role", [Role.SERVICE, Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.CUSTOMER]
)
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


FIND = """
query Find($id: ID, $overdue: Boolean! = false) {
  erasureRequests(id: $id, overdue: $overdue) {
    items { id status profileId overdue dueAt }
    pageInfo { hasNextPage }
  }
}
"""


async def test_one_request_is_found_by_its_id_with_its_person_until_it_completes(
    people: tuple[Person, Person],
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
) -> None:
    anna, _ = people
    other = (await link(service_client, "WEB", WEB_APP, "oFoundById000000000001"))["id"]
    wanted = await request_erasure(officer(client_for, "a"), other, "ANONYMIZE")
    done = await erase(client_for, anna, "DELETE")
    officer_b = officer(client_for, "b")
    found = await ok_query(officer_b, FIND, {"id": wanted["id"]})
    assert [(r["id"], r["status"], r["profileId"]) for r in found["items"]] == [
        (wanted["id"], "PENDING", other)
    ]
    # Once completed, the person's public id is on the suppression list, not on the request.
    [completed] = (await ok_query(officer_b, FIND, {"id": done["id"]}))["items"]
    assert completed["status"] == "COMPLETED" and completed["profileId"] is None
    assert (await ok_query(officer_b, FIND, {"id": str(uuid.uuid4())}))["items"] == []
    body = await gql(officer_b, FIND, {"id": "x" * 5000})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_overdue_requests_are_marked_and_can_be_listed_alone(
    people: tuple[Person, Person],
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
) -> None:
    anna, _ = people
    late = await request_erasure(officer(client_for, "a"), anna.id, "DELETE")
    other = (await link(service_client, "WEB", WEB_APP, "oOnTime00000000000001"))["id"]
    on_time = await request_erasure(officer(client_for, "a"), other, "DELETE")
    async with database.transaction() as session:
        await session.execute(
            sa.text("UPDATE erasure_requests SET due_at = :due WHERE public_id = :id"),
            {"due": datetime.now(UTC) - timedelta(days=1), "id": late["id"]},
        )
    officer_b = officer(client_for, "b")
    every = {r["id"]: r["overdue"] for r in (await ok_query(officer_b, FIND, {}))["items"]}
    assert every == {late["id"]: True, on_time["id"]: False}
    overdue = await ok_query(officer_b, FIND, {"overdue": True})
    assert [r["id"] for r in overdue["items"]] == [late["id"]]
