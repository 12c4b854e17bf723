"""`auditEvents` for compliance: who may read it, its filters, newest-first paging, and the
records of operators such as key rotation (both databases)."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest

from cdp.audit.actions import AuditAction
from cdp.auth import Role
from cdp.db import Database
from cdp.keys.rotation import record_rotation, rewrap_pending
from cdp.keys.store import KeyStore
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes
from tests.support.audit_log import EVENTS, Person, audit_rows, call, link_id, only_record, summary

# --- reading the audit log ---------------------------------------------------------------------


async def test_reading_the_audit_log_is_one_audit_read_record_not_in_its_own_answer(
    database: Database, alice: Person, compliance_client: httpx.AsyncClient
) -> None:
    before = await audit_rows(database)
    body, request_id = await call(compliance_client, EVENTS, {"first": 100})
    assert "errors" not in body, body
    items = body["data"]["auditEvents"]["items"]
    assert [item["seq"] for item in items] == [row["seq"] for row in reversed(before)]
    assert request_id not in {item["requestId"] for item in items}
    assert all(item["action"] != "audit.read" for item in items)
    row = await only_record(database, request_id)
    assert row["seq"] == before[-1]["seq"] + 1
    assert summary(row) == {
        "actor_subject": "compliance-test",
        "actor_role": "compliance",
        "action": "audit.read",
        "profile_id": None,
        "fields": [],
        "purpose": None,
        "outcome": "ok",
    }
    assert row["detail"] == {"filters": {}, "returned": len(before)}


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.CUSTOMER, Role.ANALYST, Role.MARKETER, Role.SERVICE]
)
async def test_only_compliance_may_read_the_audit_log(
    database: Database, client_for: ClientFactory, role: Role
) -> None:
    body, request_id = await call(client_for(role), EVENTS)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"auditEvents": None}
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"]) == (
        role.value,
        "query.auditEvents",
        "forbidden",
    )


@pytest.fixture
async def busy_log(
    database: Database,
    alice: Person,
    bob: Person,
    support_client: httpx.AsyncClient,
    service_client: httpx.AsyncClient,
) -> list[dict[str, Any]]:
    """A log with several actors, actions and profiles, written at distinct moments."""
    for n in range(3):
        await call(alice.client, "{ me { phone } }")
        await asyncio.sleep(0.01)
        await call(
            support_client, f'{{ profile(phone: "13700000002", purpose: "t{n}") {{ name }} }}'
        )
        await asyncio.sleep(0.01)
        await link_id(service_client, f"oAuditBusy{n:018d}")
        await asyncio.sleep(0.01)
    return await audit_rows(database)


def seqs(body: dict[str, Any]) -> list[int]:
    assert "errors" not in body, body
    return [item["seq"] for item in body["data"]["auditEvents"]["items"]]


def newest_first(rows: list[dict[str, Any]]) -> list[int]:
    return sorted((row["seq"] for row in rows), reverse=True)


async def test_audit_events_filter_by_actor(
    busy_log: list[dict[str, Any]], alice: Person, compliance_client: httpx.AsyncClient
) -> None:
    for actor in (alice.public_id, "support-test", "service-test", "nobody"):
        body, _ = await call(compliance_client, EVENTS, {"first": 100, "actor": actor})
        expected = [r for r in busy_log if r["actor_subject"] == actor]
        assert seqs(body) == newest_first(expected)
        assert all(item["actorSubject"] == actor for item in body["data"]["auditEvents"]["items"])


async def test_audit_events_filter_by_profile_public_or_surrogate_id(
    busy_log: list[dict[str, Any]],
    alice: Person,
    bob: Person,
    compliance_client: httpx.AsyncClient,
) -> None:
    for who in (alice, bob):
        expected = newest_first([r for r in busy_log if r["profile_id"] == who.surrogate])
        assert len(expected) >= 4
        body, _ = await call(compliance_client, EVENTS, {"first": 100, "profileId": who.public_id})
        assert seqs(body) == expected
        body, _ = await call(compliance_client, EVENTS, {"first": 100, "surrogate": who.surrogate})
        assert seqs(body) == expected
        items = body["data"]["auditEvents"]["items"]
        assert {item["profileSurrogateId"] for item in items} == {who.surrogate}
    body, _ = await call(compliance_client, EVENTS, {"profileId": "no-such-profile"})
    assert seqs(body) == []


async def test_audit_events_filter_by_action(
    busy_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    for action in ("pii.read", "identity.link", "profile.update", "key.rotate"):
        given = {"first": 100, "action": AuditAction(action).name}
        body, _ = await call(compliance_client, EVENTS, given)
        assert seqs(body) == newest_first([r for r in busy_log if r["action"] == action])


async def test_audit_events_filter_by_time_range_inclusive(
    busy_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    times = sorted({row["occurred_at"] for row in busy_log})
    assert len(times) >= 8, "requests were written at distinct moments"
    since, until = times[2], times[-3]
    body, _ = await call(
        compliance_client,
        EVENTS,
        {"first": 100, "from": since.isoformat(), "to": until.isoformat()},
    )
    expected = [r for r in busy_log if since <= r["occurred_at"] <= until]
    assert seqs(body) == newest_first(expected)
    assert len(expected) < len(busy_log)
    # The same moments in another time zone.
    east = timezone(timedelta(hours=8))
    body, _ = await call(
        compliance_client,
        EVENTS,
        {"first": 100, "from": since.astimezone(east).isoformat(), "to": until.isoformat()},
    )
    assert seqs(body) == newest_first(expected)
    body, _ = await call(compliance_client, EVENTS, {"first": 100, "from": since.isoformat()})
    assert seqs(body)[-1] == min(r["seq"] for r in busy_log if r["occurred_at"] >= since)
    body, _ = await call(compliance_client, EVENTS, {"first": 100, "to": until.isoformat()})
    assert seqs(body) == newest_first([r for r in busy_log if r["occurred_at"] <= until])
    # Filters combine.
    body, _ = await call(
        compliance_client,
        EVENTS,
        {"first": 100, "from": since.isoformat(), "action": "IDENTITY_LINK"},
    )
    assert seqs(body) == newest_first(
        [r for r in busy_log if r["occurred_at"] >= since and r["action"] == "identity.link"]
    )


async def test_audit_events_pages_newest_first_without_gaps_or_duplicates(
    busy_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    walked: list[int] = []
    after: str | None = None
    pages = 0
    while True:
        body, _ = await call(compliance_client, EVENTS, {"first": 4, "after": after})
        page = body["data"]["auditEvents"]
        assert len(page["items"]) <= 4
        walked.extend(seqs(body))
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert len(page["items"]) == 4
        after = page["pageInfo"]["endCursor"]
        assert pages < 50
    # Records written while paging (each page's own audit.read) are newer than page one.
    assert walked == newest_first(busy_log)
    assert pages == -(-len(busy_log) // 4)
    # A filtered walk too.
    walked, after = [], None
    while True:
        body, _ = await call(
            compliance_client, EVENTS, {"first": 1, "after": after, "actor": "support-test"}
        )
        walked.extend(seqs(body))
        info = body["data"]["auditEvents"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert walked == newest_first([r for r in busy_log if r["actor_subject"] == "support-test"])


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 0},
        {"first": 101},
        {"first": -1},
        {"after": "garbage"},
        {"after": "Z2FyYmFnZTox"},  # base64 of "garbage:1"
        {"after": "YXVkaXQ6eA=="},  # base64 of "audit:x"
        {"from": "2026-02-01T00:00:00+00:00", "to": "2026-01-01T00:00:00+00:00"},
    ],
)
async def test_audit_events_refuses_bad_paging_arguments(
    compliance_client: httpx.AsyncClient, variables: dict[str, Any]
) -> None:
    body, _ = await call(compliance_client, EVENTS, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"auditEvents": None}


# --- operators ---------------------------------------------------------------------------------


async def test_key_rotation_is_recorded_as_operator_records(
    database: Database,
    keystore: KeyStore,
    alice: Person,
    bob: Person,
    service_client: httpx.AsyncClient,
) -> None:
    await link_id(service_client, "oAuditRotate000000000000001")
    assert sum((await keystore.counts_by_version()).values()) == 3
    before = await audit_rows(database)
    rotated = TEST_KEYRING.with_new_version()

    await record_rotation(database, rotated, operator="ops-alice")
    assert (
        await rewrap_pending(database, keystore, rotated, operator="ops-alice", batch_size=2) == 3
    )

    new = (await audit_rows(database))[len(before) :]
    assert [(summary(r), r["detail"], r["request_id"]) for r in new] == [
        (
            {
                "actor_subject": "ops-alice",
                "actor_role": "operator",
                "action": action,
                "profile_id": None,
                "fields": [],
                "purpose": None,
                "outcome": "ok",
            },
            detail,
            None,
        )
        for action, detail in [
            ("key.rotate", {"kekVersion": 2}),
            ("key.rewrap", {"kekVersion": 2, "dataKeys": 2}),
            ("key.rewrap", {"kekVersion": 2, "dataKeys": 1}),
        ]
    ]
    # Nothing left to rewrap: nothing to record.
    assert await rewrap_pending(database, keystore, rotated) == 0
    assert len(await audit_rows(database)) == len(before) + 3


async def test_an_operator_without_a_name_is_recorded_as_the_cli_user(database: Database) -> None:
    await record_rotation(database, TEST_KEYRING.with_new_version())
    (row,) = await audit_rows(database)
    assert row["actor_subject"].startswith("cli:") and row["actor_role"] == "operator"
