"""Every personal read leaves exactly one access audit record with the right fields (both
databases)."""

from __future__ import annotations

import httpx

from cdp.db import Database
from tests.conftest import error_codes
from tests.support.audit_log import Person, audit_rows, call, only_record, summary

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
