"""Refused attempts leave one record too: forbidden calls and fields, expired or foreign-signed
tokens under what can be trusted of them, and none for no token or a garbage one (both
databases)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from cdp.db import Database
from tests.conftest import ClientFactory, error_codes
from tests.support.audit_log import (
    CANARY_PHONE,
    LINK_ID,
    Person,
    audit_rows,
    call,
    only_record,
    post_with_header,
    summary,
    token_with,
)
from tests.support.people import MINI

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
