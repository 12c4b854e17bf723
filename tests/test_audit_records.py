"""The access audit log: every kind of access leaves exactly one record with the right fields,
never a personal value; `auditEvents` for compliance; fail closed (both databases)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from sqlmodel import col

import cdp.audit.trail
from cdp.audit.actions import AuditAction
from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.db import Database
from cdp.keys.rotation import record_rotation, rewrap_pending
from cdp.keys.store import KeyStore
from cdp.profiles.models import Profile
from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, ClientFactory, error_codes
from tests.support.people import LINK, MINI, OFFICIAL

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
LINK_ID = """
mutation Link($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }
"""
UPDATE_ID = """
mutation Update($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }
"""
EVENTS = """
query Events($first: Int! = 20, $after: String, $actor: String, $profileId: ID,
             $surrogate: Int, $action: AuditAction, $from: DateTime, $to: DateTime) {
  auditEvents(first: $first, after: $after, actor: $actor, profileId: $profileId,
              profileSurrogateId: $surrogate, action: $action, from: $from, to: $to) {
    items {
      seq occurredAt requestId actorSubject actorRole action profileSurrogateId
      fields { field access } purpose outcome detail
    }
    pageInfo { endCursor hasNextPage }
  }
}
"""

CANARY_PHONE = "13600009999"
CANARY_NAME = "欧阳金丝雀"
CANARY_UNION = "oCanaryUnionAudit00000000001"
CANARY_OPENID = "oCanaryOpenIdAudit0000000001"


# --- helpers -----------------------------------------------------------------------------------


async def call(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> tuple[dict[str, Any], str]:
    """POST a document; the JSON body and the request id the server gave it."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == status, response.text
    return response.json(), response.headers["x-request-id"]


async def audit_rows(database: Database, request_id: str | None = None) -> list[dict[str, Any]]:
    """Audit records in chain order, all of them or those of one request."""
    query = sa.select(AUDIT).order_by(AUDIT.c.seq)
    if request_id is not None:
        query = query.where(AUDIT.c.request_id == request_id)
    async with database.transaction() as session:
        return [dict(row) for row in (await session.execute(query)).mappings()]


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """What a record says, without its chain position and time."""
    keys = ("actor_subject", "actor_role", "action", "profile_id", "fields", "purpose", "outcome")
    return {key: row[key] for key in keys}


async def only_record(database: Database, request_id: str) -> dict[str, Any]:
    rows = await audit_rows(database, request_id)
    assert len(rows) == 1, rows
    assert rows[0]["request_id"] == request_id
    occurred = rows[0]["occurred_at"]
    assert occurred.tzinfo is not None
    assert abs(datetime.now(UTC) - occurred) < timedelta(minutes=5)
    return rows[0]


async def surrogate_of(database: Database, public_id: str) -> int:
    async with database.transaction() as session:
        found = await session.scalar(
            sa.select(col(Profile.id)).where(col(Profile.public_id) == public_id)
        )
    assert found is not None
    return int(found)


async def link_id(
    client: httpx.AsyncClient,
    open_id: str,
    union_id: str | None = None,
    app_id: str = MINI,
    channel: str = "MINI_PROGRAM",
) -> tuple[str, str]:
    """linkIdentity selecting only `id`: (public id, request id)."""
    body, request_id = await call(
        client,
        LINK_ID,
        {"input": {"channel": channel, "appId": app_id, "openId": open_id, "unionId": union_id}},
    )
    assert "errors" not in body, body
    return body["data"]["linkIdentity"]["id"], request_id


class Person:
    """A profile with a phone and a name, and the customer client that owns it."""

    def __init__(self, public_id: str, surrogate: int, client: httpx.AsyncClient) -> None:
        self.public_id = public_id
        self.surrogate = surrogate
        self.client = client


async def person(
    database: Database,
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    n: int,
    *,
    phone: str | None = None,
    name: str | None = None,
) -> Person:
    public_id, _ = await link_id(service_client, f"oAuditPerson{n:016d}", f"uAuditPerson{n:016d}")
    customer = client_for(Role.CUSTOMER, subject=public_id)
    body, _ = await call(
        customer,
        UPDATE_ID,
        {
            "input": {
                "phone": phone or f"1370000{n:04d}",
                "name": name or f"审计{n}",
                "birthday": "1990-05-17",
            }
        },
    )
    assert "errors" not in body, body
    return Person(public_id, await surrogate_of(database, public_id), customer)


@pytest.fixture
async def alice(
    database: Database, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> Person:
    return await person(database, service_client, client_for, 1, phone="13700000001")


@pytest.fixture
async def bob(
    database: Database, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> Person:
    return await person(database, service_client, client_for, 2, phone="13700000002")


def token_with(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    now = int(time.time())
    full = {"iat": now - 60, "exp": now + 600, "iss": "cdp", **claims}
    return jwt.encode(full, secret, algorithm="HS256")


async def post_with_header(
    client_for: ClientFactory, authorization: str | None, query: str = "{ me { phone } }"
) -> httpx.Response:
    client = client_for(None)
    headers = {"authorization": authorization} if authorization is not None else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


# --- personal reads ----------------------------------------------------------------------------


async def test_a_customer_reading_their_phone_and_name_leaves_one_pii_read_record(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(alice.client, "{ me { phone name } }")
    assert body == {"data": {"me": {"phone": "13700000001", "name": "审计1"}}}
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": alice.public_id,
        "actor_role": "customer",
        "action": "pii.read",
        "profile_id": alice.surrogate,
        "fields": [{"field": "name", "access": "full"}, {"field": "phone", "access": "full"}],
        "purpose": None,
        "outcome": "ok",
    }
    assert row["detail"] == {}


async def test_support_reads_are_recorded_masked_and_a_denied_field_as_denied(
    database: Database, alice: Person, support_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        support_client,
        '{ profile(phone: "13700000001", purpose: "工单 #77") { phone name birthday } }',
    )
    assert body["data"]["profile"] == {"phone": "137****0001", "name": "审*", "birthday": None}
    assert error_codes(body) == ["FORBIDDEN"]
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "support-test",
        "actor_role": "support",
        "action": "pii.read",
        "profile_id": alice.surrogate,
        "fields": [
            {"field": "birthday", "access": "denied"},
            {"field": "name", "access": "masked"},
            {"field": "phone", "access": "masked"},
        ],
        "purpose": "工单 #77",
        "outcome": "forbidden",
    }


async def test_compliance_reading_a_birthday_sees_the_year_and_is_recorded_as_masked(
    database: Database, alice: Person, compliance_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        compliance_client,
        f'{{ profile(id: "{alice.public_id}", purpose: "DSAR 12") {{ birthday phone }} }}',
    )
    assert body == {"data": {"profile": {"birthday": "1990", "phone": "137****0001"}}}
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "compliance-test",
        "actor_role": "compliance",
        "action": "pii.read",
        "profile_id": alice.surrogate,
        "fields": [
            {"field": "birthday", "access": "masked"},
            {"field": "phone", "access": "masked"},
        ],
        "purpose": "DSAR 12",
        "outcome": "ok",
    }


async def test_a_lookup_selecting_only_the_id_is_one_profile_lookup_record(
    database: Database, alice: Person, support_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        support_client, '{ profile(phone: "137 0000 0001", purpose: "  回访  ") { id } }'
    )
    assert body == {"data": {"profile": {"id": alice.public_id}}}
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "support-test",
        "actor_role": "support",
        "action": "profile.lookup",
        "profile_id": alice.surrogate,
        "fields": [],
        "purpose": "回访",
        "outcome": "ok",
    }


async def test_a_lookup_that_finds_nobody_is_one_not_found_record(
    database: Database, alice: Person, service_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        service_client, '{ profile(phone: "13711112222", purpose: "sync") { id phone } }'
    )
    assert body == {"data": {"profile": None}}
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "service-test",
        "actor_role": "service",
        "action": "profile.lookup",
        "profile_id": None,
        "fields": [],
        "purpose": "sync",
        "outcome": "not_found",
    }


async def test_two_aliased_lookups_of_one_profile_are_one_record(
    database: Database, alice: Person, service_client: httpx.AsyncClient
) -> None:
    # The service role: support and compliance look up one profile per operation.
    query = f"""{{
      a: profile(unionId: "uAuditPerson0000000000000001", purpose: "t-1") {{ unionId }}
      b: profile(id: "{alice.public_id}", purpose: "t-1") {{ identities {{ appId }} unionId }}
    }}"""
    body, request_id = await call(service_client, query)
    assert "errors" not in body, body
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "service-test",
        "actor_role": "service",
        "action": "pii.read",
        "profile_id": alice.surrogate,
        "fields": [
            {"field": "identities", "access": "full"},
            {"field": "unionId", "access": "full"},
        ],
        "purpose": "t-1",
        "outcome": "ok",
    }


async def test_lookups_of_two_profiles_in_one_request_are_two_records(
    database: Database, alice: Person, bob: Person, service_client: httpx.AsyncClient
) -> None:
    query = """{
      a: profile(unionId: "uAuditPerson0000000000000001", purpose: "t-2") { unionId }
      b: profile(unionId: "uAuditPerson0000000000000002", purpose: "t-2") { id }
    }"""
    body, request_id = await call(service_client, query)
    assert "errors" not in body, body
    rows = await audit_rows(database, request_id)
    assert sorted((summary(r) for r in rows), key=lambda r: r["profile_id"]) == [
        {
            "actor_subject": "service-test",
            "actor_role": "service",
            "action": "pii.read",
            "profile_id": alice.surrogate,
            "fields": [{"field": "unionId", "access": "full"}],
            "purpose": "t-2",
            "outcome": "ok",
        },
        {
            "actor_subject": "service-test",
            "actor_role": "service",
            "action": "profile.lookup",
            "profile_id": bob.surrogate,
            "fields": [],
            "purpose": "t-2",
            "outcome": "ok",
        },
    ]


# --- mutations ---------------------------------------------------------------------------------


async def test_link_identity_is_one_identity_link_record(
    database: Database, service_client: httpx.AsyncClient
) -> None:
    public_id, request_id = await link_id(service_client, "oAuditLink000000000000000001")
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "service-test",
        "actor_role": "service",
        "action": "identity.link",
        "profile_id": await surrogate_of(database, public_id),
        "fields": [],
        "purpose": None,
        "outcome": "ok",
    }
    assert row["detail"] == {
        "channel": "MINI_PROGRAM",
        "appId": MINI,
        "createdProfile": True,
        "createdIdentity": True,
        "mergedProfiles": [],
    }


async def test_link_identity_reading_identifiers_back_also_records_the_read(
    database: Database, service_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        service_client,
        LINK,
        {
            "input": {
                "channel": "MINI_PROGRAM",
                "appId": MINI,
                "openId": "oAuditLink000000000000000002",
                "unionId": "uAuditLink000000000000000002",
            }
        },
    )
    surrogate = await surrogate_of(database, body["data"]["linkIdentity"]["id"])
    rows = await audit_rows(database, request_id)
    assert [(r["action"], r["profile_id"], r["fields"]) for r in rows] == [
        ("identity.link", surrogate, []),
        (
            "pii.read",
            surrogate,
            [{"field": "identities", "access": "full"}, {"field": "unionId", "access": "full"}],
        ),
    ]


async def test_a_merge_is_recorded_as_profile_merge_and_identity_link(
    database: Database, service_client: httpx.AsyncClient
) -> None:
    older, _ = await link_id(service_client, "oAuditMergeMini0000000000001")
    newer, _ = await link_id(
        service_client,
        "oAuditMergeOfficial00000000001",
        "uAuditMerge00000000000000001",
        app_id=OFFICIAL,
        channel="OFFICIAL_ACCOUNT",
    )
    older_id, newer_id = await surrogate_of(database, older), await surrogate_of(database, newer)
    survivor, request_id = await link_id(
        service_client, "oAuditMergeMini0000000000001", "uAuditMerge00000000000000001"
    )
    assert survivor == older
    rows = await audit_rows(database, request_id)
    assert sorted(summary(r)["action"] for r in rows) == ["identity.link", "profile.merge"]
    by_action = {r["action"]: r for r in rows}
    merge = by_action["profile.merge"]
    assert summary(merge) == {
        "actor_subject": "service-test",
        "actor_role": "service",
        "action": "profile.merge",
        "profile_id": older_id,
        "fields": [],
        "purpose": None,
        "outcome": "ok",
    }
    assert merge["detail"]["mergedProfile"] == newer_id
    assert merge["detail"]["reason"] == "union_id"
    assert by_action["identity.link"]["profile_id"] == older_id
    assert by_action["identity.link"]["detail"]["mergedProfiles"] == [newer_id]


async def test_update_my_profile_is_one_profile_update_record_naming_the_fields_written(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(
        alice.client, UPDATE_ID, {"input": {"phone": "13700000009", "name": None}}
    )
    assert "errors" not in body, body
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": alice.public_id,
        "actor_role": "customer",
        "action": "profile.update",
        "profile_id": alice.surrogate,
        "fields": [{"field": "name", "access": "write"}, {"field": "phone", "access": "write"}],
        "purpose": None,
        "outcome": "ok",
    }


async def test_a_rejected_update_is_one_bad_user_input_record_and_writes_nothing(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(
        alice.client, UPDATE_ID, {"input": {"name": "新名字", "phone": "not a phone"}}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    row = await only_record(database, request_id)
    assert (row["actor_subject"], row["actor_role"], row["action"], row["outcome"]) == (
        alice.public_id,
        "customer",
        "profile.update",
        "bad_user_input",
    )
    assert row["fields"] == []
    after, _ = await call(alice.client, "{ me { phone name } }")
    assert after["data"]["me"] == {"phone": "13700000001", "name": "审计1"}


async def test_a_rejected_update_names_the_profile_it_targeted(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(alice.client, UPDATE_ID, {"input": {"phone": "12345"}})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    row = await only_record(database, request_id)
    assert (row["action"], row["profile_id"]) == ("profile.update", alice.surrogate)


async def test_a_refused_link_is_one_record_with_the_error_code_and_writes_nothing(
    database: Database, service_client: httpx.AsyncClient
) -> None:
    await link_id(service_client, "oAuditConflict00000000000001")
    async with database.transaction() as session:
        profiles = await session.scalar(sa.select(sa.func.count()).select_from(Profile))
    body, request_id = await call(
        service_client,
        LINK_ID,
        {
            "input": {
                "channel": "OFFICIAL_ACCOUNT",
                "appId": MINI,
                "openId": "oAuditConflict00000000000001",
                "unionId": "uAuditConflict00000000000001",
            }
        },
    )
    assert error_codes(body) == ["CONFLICT"]
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"], row["fields"]) == (
        "service",
        "identity.link",
        "conflict",
        [],
    )
    async with database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Profile)) == profiles
        assert (
            await session.scalar(
                sa.select(sa.func.count())
                .select_from(Profile)
                .where(col(Profile.union_id_bidx).is_not(None))
            )
            == 0
        )


async def test_a_malformed_birthday_is_also_a_refused_update_record(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(alice.client, UPDATE_ID, {"input": {"birthday": "30/01/1990"}})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    row = await only_record(database, request_id)
    assert (row["action"], row["outcome"]) == ("profile.update", "bad_user_input")


# --- refused attempts --------------------------------------------------------------------------


async def test_an_analyst_looking_up_a_profile_is_one_forbidden_record(
    database: Database, alice: Person, analyst_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        analyst_client, '{ profile(phone: "13700000001", purpose: "curious") { id phone } }'
    )
    assert error_codes(body) == ["FORBIDDEN"]
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "analyst-test",
        "actor_role": "analyst",
        "action": "query.profile",
        "profile_id": None,
        "fields": [],
        "purpose": None,
        "outcome": "forbidden",
    }


async def test_a_customer_linking_identities_is_one_forbidden_record(
    database: Database, alice: Person
) -> None:
    body, request_id = await call(
        alice.client,
        LINK_ID,
        {"input": {"channel": "MINI_PROGRAM", "appId": MINI, "openId": "oAuditSneaky00000001"}},
    )
    assert error_codes(body) == ["FORBIDDEN"]
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"], row["profile_id"]) == (
        "customer",
        "mutation.linkIdentity",
        "forbidden",
        None,
    )


async def test_support_reading_a_union_id_is_recorded_as_denied(
    database: Database, alice: Person, support_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        support_client, '{ profile(phone: "13700000001", purpose: "t-3") { phone unionId } }'
    )
    assert error_codes(body) == ["FORBIDDEN"]
    row = await only_record(database, request_id)
    assert summary(row) == {
        "actor_subject": "support-test",
        "actor_role": "support",
        "action": "pii.read",
        "profile_id": alice.surrogate,
        "fields": [
            {"field": "phone", "access": "masked"},
            {"field": "unionId", "access": "denied"},
        ],
        "purpose": "t-3",
        "outcome": "forbidden",
    }


async def test_an_expired_token_is_recorded_under_the_subject_it_claims(
    database: Database, alice: Person, client_for: ClientFactory
) -> None:
    now = int(time.time())
    expired = token_with(
        {"sub": alice.public_id, "role": "customer", "iat": now - 7200, "exp": now - 3600}
    )
    response = await post_with_header(client_for, f"Bearer {expired}")
    assert response.status_code == 401
    assert CANARY_PHONE not in response.text and "13700000001" not in response.text
    row = await only_record(database, response.headers["x-request-id"])
    assert summary(row) == {
        "actor_subject": alice.public_id,
        "actor_role": "customer",
        "action": "auth.token",
        "profile_id": None,
        "fields": [],
        "purpose": None,
        "outcome": "unauthenticated",
    }
    assert row["detail"] == {"reason": "Token expired"}


async def test_a_token_signed_with_another_key_is_recorded_by_fingerprint_not_its_claims(
    database: Database, client_for: ClientFactory
) -> None:
    forged = token_with({"sub": "support-9", "role": "support"}, secret="x" * 48)
    response = await post_with_header(client_for, f"Bearer {forged}")
    assert response.status_code == 401
    row = await only_record(database, response.headers["x-request-id"])
    fingerprint = "token:" + hashlib.sha256(forged.encode()).hexdigest()[:16]
    assert (row["actor_subject"], row["actor_role"], row["action"], row["outcome"]) == (
        fingerprint,
        "unverified",
        "auth.token",
        "unauthenticated",
    )


async def test_an_unsigned_token_cannot_write_its_subject_into_the_audit_log(
    database: Database, client_for: ClientFactory
) -> None:
    claimed = "compliance-officer-001\n\x1b[31mFAKE"
    now = int(time.time())
    unsigned = jwt.encode(
        {"sub": claimed, "role": "compliance", "iat": now, "exp": now + 600}, "", algorithm="none"
    )
    sneaky = token_with({"sub": "compliance-officer-001\u202eKAEF", "role": "compliance"})
    for token in (unsigned, sneaky):
        response = await post_with_header(client_for, f"Bearer {token}")
        assert response.status_code == 401
    rows = await audit_rows(database)
    assert len(rows) == 2
    assert all(row["actor_subject"].startswith("token:") for row in rows), rows
    assert {row["actor_role"] for row in rows} == {"unverified"}
    stored = json.dumps([dict(row) for row in rows], default=str, ensure_ascii=False)
    assert "FAKE" not in stored and "KAEF" not in stored and "\x1b" not in stored


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt-at-all",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "garbage",
    ],
)
async def test_no_token_or_a_garbage_token_leaves_no_record(
    database: Database, client_for: ClientFactory, authorization: str | None
) -> None:
    before = await audit_rows(database)
    response = await post_with_header(client_for, authorization)
    assert response.status_code == 401
    assert await audit_rows(database) == before


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "someone", "role": "admin"},
        {"sub": "   ", "role": "support"},
        {"role": "support"},
    ],
)
async def test_a_bad_token_claiming_no_plausible_principal_leaves_no_record(
    database: Database, client_for: ClientFactory, claims: dict[str, Any]
) -> None:
    before = await audit_rows(database)
    forged = token_with(claims, secret="y" * 48)
    response = await post_with_header(client_for, f"Bearer {forged}")
    assert response.status_code == 401
    assert await audit_rows(database) == before


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


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.CUSTOMER, Role.ANALYST, Role.SERVICE])
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


# --- never a personal value --------------------------------------------------------------------


def canaries() -> list[str]:
    values = [
        CANARY_PHONE,
        "+86" + CANARY_PHONE,
        "136****9999",
        "136 0000 9999",
        CANARY_NAME,
        CANARY_NAME[:1] + "*",
        CANARY_UNION,
        CANARY_OPENID,
        "13600009998",  # a phone looked up that matched nobody
        "not-a-phone-金丝雀",
        "canaryVariable",  # a variable's name
    ]
    return values + [json.dumps(v)[1:-1] for v in values if json.dumps(v)[1:-1] != v]


def flatten(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


async def test_no_audit_record_ever_holds_a_personal_value_or_variables(
    database: Database,
    keystore: KeyStore,
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    compliance_client: httpx.AsyncClient,
    analyst_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> None:
    # Seeded through variables, and in a merge.
    older, _ = await link_id(service_client, CANARY_OPENID)
    body, _ = await call(
        service_client,
        "mutation L($canaryVariable: LinkIdentityInput!) {"
        " linkIdentity(input: $canaryVariable) { id unionId identities { openId } } }",
        {
            "canaryVariable": {
                "channel": "OFFICIAL_ACCOUNT",
                "appId": OFFICIAL,
                "openId": "oCanaryOfficial0000000000001",
                "unionId": CANARY_UNION,
            }
        },
    )
    body, _ = await call(
        service_client,
        LINK,
        {
            "input": {
                "channel": "MINI_PROGRAM",
                "appId": MINI,
                "openId": CANARY_OPENID,
                "unionId": CANARY_UNION,
            }
        },
    )
    assert body["data"]["linkIdentity"]["id"] == older
    customer = client_for(Role.CUSTOMER, subject=older)
    everything = "{ me { phone name birthday unionId identities { openId } address { city } } }"
    update = "mutation U($canaryVariable: UpdateMyProfileInput!) {"
    update += " updateMyProfile(input: $canaryVariable) { phone name } }"
    body, _ = await call(
        customer,
        update,
        {"canaryVariable": {"phone": CANARY_PHONE, "name": CANARY_NAME, "birthday": "1980-01-02"}},
    )
    assert body["data"]["updateMyProfile"]["phone"] == CANARY_PHONE
    await call(customer, everything)
    await call(customer, update, {"canaryVariable": {"phone": "not-a-phone-金丝雀"}})
    await call(customer, update, {"canaryVariable": {"birthday": "not-a-phone-金丝雀"}})

    lookup = 'query Q($canaryVariable: String) { profile(phone: $canaryVariable, purpose: "t")'
    lookup += " { id phone name unionId birthday identities { openId } } }"
    for client in (support_client, compliance_client, service_client, analyst_client):
        for phone in (CANARY_PHONE, "13600009998", "136 0000 9999"):
            await call(client, lookup, {"canaryVariable": phone})
        await call(
            client,
            "query Q($canaryVariable: String) {"
            ' profile(unionId: $canaryVariable, purpose: "t") { name } }',
            {"canaryVariable": CANARY_UNION},
        )
        await call(
            client,
            "query Q($canaryVariable: String) {"
            ' profile(openId: $canaryVariable, purpose: "t") { phone } }',
            {"canaryVariable": CANARY_OPENID},
        )
    now = int(time.time())
    await post_with_header(
        client_for,
        "Bearer " + token_with({"sub": older, "role": "customer", "exp": now - 10}),
    )
    await call(compliance_client, EVENTS, {"first": 100, "profileId": older})
    rotated = TEST_KEYRING.with_new_version()
    await record_rotation(database, rotated, operator="ops")
    await rewrap_pending(database, keystore, rotated, operator="ops")

    rows = await audit_rows(database)
    actions = {row["action"] for row in rows}
    assert actions >= {
        "identity.link",
        "profile.merge",
        "profile.update",
        "pii.read",
        "profile.lookup",
        "query.profile",
        "auth.token",
        "audit.read",
        "key.rotate",
        "key.rewrap",
    }
    async with database.transaction() as session:
        raw = [tuple(r) for r in (await session.execute(sa.text("SELECT * FROM audit_events")))]
    assert len(raw) == len(rows)
    texts = [flatten(value) for row in rows for value in row.values()]
    texts += [flatten(value) for row in raw for value in row]
    for canary in canaries():
        leaks = [text for text in texts if canary in text]
        assert not leaks, f"{canary!r} stored in the audit log: {leaks}"


# --- fail closed -------------------------------------------------------------------------------


def break_the_audit_log(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(cdp.audit.trail, "append_to_chain", refuse)


async def test_a_read_whose_audit_record_cannot_be_written_returns_no_personal_data(
    database: Database, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await audit_rows(database)
    break_the_audit_log(monkeypatch)
    response = await alice.client.post("/graphql", json={"query": "{ me { phone name } }"})
    assert response.status_code == 500
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["INTERNAL"]
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    for value in ("13700000001", "137****0001", "审计1"):
        assert value not in response.text
    monkeypatch.undo()
    assert await audit_rows(database) == before


async def test_a_masked_read_whose_audit_record_cannot_be_written_returns_nothing(
    alice: Person, support_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_the_audit_log(monkeypatch)
    response = await support_client.post(
        "/graphql",
        json={"query": '{ profile(phone: "13700000001", purpose: "t") { id phone name } }'},
    )
    assert response.status_code == 500
    assert error_codes(response.json()) == ["INTERNAL"]
    assert "data" not in response.json()
    for value in ("137****0001", "审*", alice.public_id):
        assert value not in response.text


async def test_a_write_whose_audit_record_cannot_be_written_is_not_committed(
    database: Database,
    alice: Person,
    service_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with database.transaction() as session:
        profiles_before = int(
            await session.scalar(sa.select(sa.func.count()).select_from(Profile)) or 0
        )
    before = await audit_rows(database)
    break_the_audit_log(monkeypatch)
    response = await alice.client.post(
        "/graphql",
        json={"query": UPDATE_ID, "variables": {"input": {"phone": "13799998888", "name": "X"}}},
    )
    assert response.status_code == 500
    assert error_codes(response.json()) == ["INTERNAL"]
    response = await service_client.post(
        "/graphql",
        json={
            "query": LINK_ID,
            "variables": {
                "input": {"channel": "MINI_PROGRAM", "appId": MINI, "openId": "oAuditLost000001"}
            },
        },
    )
    assert response.status_code == 500
    monkeypatch.undo()
    after, _ = await call(alice.client, "{ me { phone name } }")
    assert after["data"]["me"] == {"phone": "13700000001", "name": "审计1"}
    async with database.transaction() as session:
        assert (
            await session.scalar(sa.select(sa.func.count()).select_from(Profile))
        ) == profiles_before
    assert (await audit_rows(database))[: len(before)] == before
    assert len(await audit_rows(database)) == len(before) + 1, "only the read just made"
