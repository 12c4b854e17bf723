"""Every mutation leaves exactly one access audit record with the right fields (both
databases)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlmodel import col

from cdp.db import Database
from cdp.profiles.models import Profile
from tests.conftest import error_codes
from tests.support.audit_log import (
    LINK_ID,
    UPDATE_ID,
    Person,
    audit_rows,
    call,
    link_id,
    only_record,
    summary,
    surrogate_of,
)
from tests.support.people import LINK, MINI, OFFICIAL

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
