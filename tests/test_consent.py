"""Consent per purpose and channel, its history, canContact and recordContact under frequency
caps enforced in the database, and consents through profile merges (both databases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.audit.models import AuditEvent
from cdp.auth import Role, issue_token
from cdp.consent import notices
from cdp.consent.models import DEFAULT_GRANTED, Consent, ConsentChange, ConsentPurpose, Contact
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.profiles.models import Profile
from tests.conftest import (
    TEST_KEYRING,
    ClientFactory,
    audited,
    error_codes,
    gql,
    make_settings,
)
from tests.support.people import MINI, OFFICIAL, count, link

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

CHANNELS = ["MINI_PROGRAM", "OFFICIAL_ACCOUNT", "CHANNELS", "WEB", "SMS"]
PURPOSES = ["MARKETING", "ACTIVITY_NOTIFICATIONS", "PERSONALIZATION", "ANALYTICS"]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]

UPDATE = """
mutation Update($input: UpdateMyConsentsInput!) {
  updateMyConsents(input: $input) {
    id
    consents { current { purpose channel granted explicit noticeVersion sourceChannel updatedAt } }
  }
}
"""
MY_CONSENTS = """
query Mine($first: Int! = 20, $after: String) {
  me {
    id
    consents {
      current { purpose channel granted explicit noticeVersion sourceChannel updatedAt }
      history(first: $first, after: $after) {
        items { purpose channel granted noticeVersion sourceChannel changedBy changedAt }
        pageInfo { endCursor hasNextPage }
      }
    }
  }
}
"""
CAN_CONTACT = """
query Can($profileId: ID!, $purpose: ConsentPurpose!, $channel: Channel!) {
  canContact(profileId: $profileId, purpose: $purpose, channel: $channel) { allowed reason }
}
"""
RECORD_CONTACT = """
mutation Contact($input: RecordContactInput!) {
  recordContact(input: $input) { id purpose channel sentAt }
}
"""


# --- helpers -----------------------------------------------------------------------------------

# The notice versions these tests choose under: a choice must name a published one in effect.
VERSIONS = ("v1", "v2", "v3", "2024-01", "2024-02", "a-1", "b-1", "n" * 32)


@pytest.fixture
async def notices_published(database: Database) -> None:
    async with audited(database) as session:
        for version in VERSIONS:
            await notices.publish(
                session=session,
                version=version,
                title="会员隐私政策",
                text=f"{version} 版本的正文。",
                changes="测试用版本。",
                material=False,
                effective_at=datetime(2020, 1, 1, tzinfo=UTC),
            )


async def new_person(
    service: httpx.AsyncClient,
    client_for: ClientFactory,
    open_id: str = "oMini_consent_000000000000001",
    *,
    channel: str = "MINI_PROGRAM",
    app_id: str = MINI,
    union_id: str | None = None,
) -> tuple[str, httpx.AsyncClient]:
    """A linked person: their profile id and a customer client signed in as them."""
    profile = await link(service, channel, app_id, open_id, union_id)
    return profile["id"], client_for(Role.CUSTOMER, subject=profile["id"])


async def choose(
    customer: httpx.AsyncClient,
    consents: list[dict[str, Any]],
    *,
    notice_version: str | None = None,
    source_channel: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        customer,
        UPDATE,
        {
            "input": {
                "consents": consents,
                "noticeVersion": notice_version,
                "sourceChannel": source_channel,
            }
        },
    )
    assert "errors" not in body, body
    return body["data"]["updateMyConsents"]  # type: ignore[no-any-return]


async def decision(
    service: httpx.AsyncClient, profile_id: str, purpose: str, channel: str
) -> tuple[bool, str]:
    body = await gql(
        service, CAN_CONTACT, {"profileId": profile_id, "purpose": purpose, "channel": channel}
    )
    assert "errors" not in body, body
    answer = body["data"]["canContact"]
    return answer["allowed"], answer["reason"]


async def decisions(
    service: httpx.AsyncClient, profile_id: str, purpose: str
) -> dict[str, tuple[bool, str]]:
    """canContact for `purpose` in every channel."""
    return {c: await decision(service, profile_id, purpose, c) for c in CHANNELS}


async def record_contact(
    service: httpx.AsyncClient,
    profile_id: str,
    purpose: str,
    channel: str,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The response body (the caller checks data or errors)."""
    return await gql(
        service,
        RECORD_CONTACT,
        {
            "input": {
                "profileId": profile_id,
                "purpose": purpose,
                "channel": channel,
                "idempotencyKey": idempotency_key,
            }
        },
    )


async def my_consents(
    customer: httpx.AsyncClient, first: int = 20, after: str | None = None
) -> dict[str, Any]:
    body = await gql(customer, MY_CONSENTS, {"first": first, "after": after})
    assert "errors" not in body, body
    return body["data"]["me"]["consents"]  # type: ignore[no-any-return]


def everywhere(allowed: bool, reason: str) -> dict[str, tuple[bool, str]]:
    return {c: (allowed, reason) for c in CHANNELS}


async def surrogate_id(database: Database, public_id: str) -> int:
    async with database.transaction() as session:
        found = await session.scalar(sa.select(Profile.id).where(Profile.public_id == public_id))
    assert found is not None
    return int(found)


async def audit_rows(database: Database, action: str) -> list[dict[str, Any]]:
    query = sa.select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.seq)
    async with database.transaction() as session:
        return [dict(row) for row in (await session.execute(query)).mappings()]


@asynccontextmanager
async def clients_with_settings(
    database_url: str, database: Database, **overrides: Any
) -> AsyncIterator[ClientFactory]:
    """Like `client_for`, on an app built with these settings over the test's database."""
    settings = make_settings(database_url, **overrides)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    opened: list[httpx.AsyncClient] = []

    def make(role: Role, subject: str | None = None) -> httpx.AsyncClient:
        token = issue_token(settings, role=role, subject=subject or f"{role.value}-test")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for client in opened:
            await client.aclose()


# --- a choice covers exactly the channels it names ---------------------------------------------


@CITUS
async def test_a_choice_in_one_channel_changes_can_contact_in_every_channel_it_covers_only(
    service_client: httpx.AsyncClient, client_for: ClientFactory, notices_published: None
) -> None:
    person, customer = await new_person(service_client, client_for)
    assert await decisions(service_client, person, "MARKETING") == everywhere(False, "NO_CONSENT")
    assert await decisions(service_client, person, "ACTIVITY_NOTIFICATIONS") == everywhere(
        True, "DEFAULT"
    )

    # Marketing granted without a channel: every channel.
    await choose(customer, [{"purpose": "MARKETING", "granted": True}], notice_version="v1")
    assert await decisions(service_client, person, "MARKETING") == everywhere(True, "CONSENTED")
    assert await decisions(service_client, person, "ACTIVITY_NOTIFICATIONS") == everywhere(
        True, "DEFAULT"
    )

    # Activity notifications off in the official account only.
    await choose(
        customer,
        [{"purpose": "ACTIVITY_NOTIFICATIONS", "channel": "OFFICIAL_ACCOUNT", "granted": False}],
        source_channel="OFFICIAL_ACCOUNT",
    )
    activity = await decisions(service_client, person, "ACTIVITY_NOTIFICATIONS")
    assert activity == {**everywhere(True, "DEFAULT"), "OFFICIAL_ACCOUNT": (False, "OPTED_OUT")}
    assert activity["MINI_PROGRAM"] == (True, "DEFAULT")
    assert await decisions(service_client, person, "MARKETING") == everywhere(True, "CONSENTED")

    # Switched off in the official account without naming a channel: the mini-program (and
    # every other channel) stops too.
    await choose(
        customer,
        [{"purpose": "ACTIVITY_NOTIFICATIONS", "granted": False}],
        source_channel="OFFICIAL_ACCOUNT",
    )
    assert await decisions(service_client, person, "ACTIVITY_NOTIFICATIONS") == everywhere(
        False, "OPTED_OUT"
    )
    assert await decisions(service_client, person, "MARKETING") == everywhere(True, "CONSENTED")
    assert await decisions(service_client, person, "PERSONALIZATION") == everywhere(
        False, "NO_CONSENT"
    )

    # Back on in the mini-program only.
    await choose(
        customer,
        [{"purpose": "ACTIVITY_NOTIFICATIONS", "channel": "MINI_PROGRAM", "granted": True}],
        source_channel="MINI_PROGRAM",
    )
    assert await decisions(service_client, person, "ACTIVITY_NOTIFICATIONS") == {
        **everywhere(False, "OPTED_OUT"),
        "MINI_PROGRAM": (True, "CONSENTED"),
    }


async def test_a_later_choice_in_one_update_overrides_an_earlier_one_it_overlaps(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(
        customer,
        [
            {"purpose": "MARKETING", "granted": True},
            {"purpose": "MARKETING", "channel": "SMS", "granted": False},
        ],
    )
    assert await decisions(service_client, person, "MARKETING") == {
        **everywhere(True, "CONSENTED"),
        "SMS": (False, "OPTED_OUT"),
    }


async def test_a_person_with_no_recorded_choice_gets_the_defaults(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person, customer = await new_person(service_client, client_for)
    for purpose in PURPOSES:
        granted = DEFAULT_GRANTED[ConsentPurpose(purpose)]
        expected = everywhere(True, "DEFAULT") if granted else everywhere(False, "NO_CONSENT")
        assert await decisions(service_client, person, purpose) == expected, purpose
    assert await decisions(service_client, person, "MARKETING") == everywhere(False, "NO_CONSENT")

    consents = await my_consents(customer)
    assert sorted((s["purpose"], s["channel"]) for s in consents["current"]) == sorted(
        (p, c) for p in PURPOSES for c in CHANNELS
    )
    for state in consents["current"]:
        assert state == {
            "purpose": state["purpose"],
            "channel": state["channel"],
            "granted": DEFAULT_GRANTED[ConsentPurpose(state["purpose"])],
            "explicit": False,
            "noticeVersion": None,
            "sourceChannel": None,
            "updatedAt": None,
        }
    assert consents["history"] == {
        "items": [],
        "pageInfo": {"endCursor": None, "hasNextPage": False},
    }


# --- history -----------------------------------------------------------------------------------


async def test_history_records_every_change_newest_first_and_paginated(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    notices_published: None,
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(
        customer,
        [{"purpose": "MARKETING", "granted": True}, {"purpose": "ANALYTICS", "granted": False}],
        notice_version="2024-01",
        source_channel="MINI_PROGRAM",
    )
    await choose(
        customer,
        [{"purpose": "MARKETING", "channel": "SMS", "granted": False}],
        notice_version="2024-02",
        source_channel="WEB",
    )
    await choose(
        customer,
        [{"purpose": "ACTIVITY_NOTIFICATIONS", "granted": False}],
        source_channel="OFFICIAL_ACCOUNT",
    )
    await choose(customer, [{"purpose": "MARKETING", "channel": "SMS", "granted": True}])

    consents = await my_consents(customer)
    items = consents["history"]["items"]
    summary = [
        (i["purpose"], i["channel"], i["granted"], i["noticeVersion"], i["sourceChannel"])
        for i in items
    ]
    assert summary == [
        ("MARKETING", "SMS", True, None, None),
        ("ACTIVITY_NOTIFICATIONS", None, False, None, "OFFICIAL_ACCOUNT"),
        ("MARKETING", "SMS", False, "2024-02", "WEB"),
        ("ANALYTICS", None, False, "2024-01", "MINI_PROGRAM"),
        ("MARKETING", None, True, "2024-01", "MINI_PROGRAM"),
    ]
    assert {i["changedBy"] for i in items} == {person}
    changed = [datetime.fromisoformat(i["changedAt"]) for i in items]
    assert all(c.tzinfo is not None for c in changed)
    assert changed == sorted(changed, reverse=True)
    assert consents["history"]["pageInfo"]["hasNextPage"] is False

    # Paginated: two at a time, the same items in the same order.
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await my_consents(customer, first=2, after=after))["history"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p["items"]] == items

    # The current state reflects the last choice for each purpose and channel.
    current = {(s["purpose"], s["channel"]): s for s in consents["current"]}
    assert current[("MARKETING", "SMS")]["granted"] is True
    assert current[("MARKETING", "SMS")]["explicit"] is True
    assert current[("MARKETING", "SMS")]["noticeVersion"] is None
    assert current[("MARKETING", "WEB")] | {"updatedAt": None} == {
        "purpose": "MARKETING",
        "channel": "WEB",
        "granted": True,
        "explicit": True,
        "noticeVersion": "2024-01",
        "sourceChannel": "MINI_PROGRAM",
        "updatedAt": None,
    }
    assert current[("MARKETING", "WEB")]["updatedAt"] is not None
    for channel in CHANNELS:
        assert current[("ACTIVITY_NOTIFICATIONS", channel)]["granted"] is False
        assert current[("ANALYTICS", channel)]["granted"] is False
        assert current[("PERSONALIZATION", channel)]["explicit"] is False
    assert await decision(service_client, person, "MARKETING", "SMS") == (True, "CONSENTED")

    # History is append-only: one row per choice made.
    assert await count(database, ConsentChange) == 5


async def test_history_paging_arguments_are_checked(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    _, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    for arguments, field in (
        ({"first": 101}, "first"),
        ({"first": 0}, "first"),
        ({"first": 5, "after": "not-a-cursor"}, "after"),
    ):
        body = await gql(customer, MY_CONSENTS, arguments)
        assert error_codes(body) == ["BAD_USER_INPUT"], arguments
        assert body["errors"][0]["extensions"].get("field") == field
    assert len((await my_consents(customer, first=100))["history"]["items"]) == 1


async def test_the_history_is_readable_by_the_other_roles_that_see_consents(
    service_client: httpx.AsyncClient, client_for: ClientFactory, notices_published: None
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}], notice_version="v3")
    query = """
    query One($id: ID!) {
      profile(id: $id, purpose: "check consent for a complaint") {
        consents { history { items { purpose granted noticeVersion changedBy } } }
      }
    }
    """
    for role in (Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE):
        body = await gql(client_for(role), query, {"id": person})
        assert "errors" not in body, (role, body)
        assert body["data"]["profile"]["consents"]["history"]["items"] == [
            {"purpose": "MARKETING", "granted": True, "noticeVersion": "v3", "changedBy": person}
        ]


async def test_concurrent_updates_of_one_person_all_land_in_order(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    results = await asyncio.gather(
        *[
            gql(
                client_for(Role.CUSTOMER, subject=person),
                UPDATE,
                {"input": {"consents": [{"purpose": "ANALYTICS", "granted": n % 2 == 0}]}},
            )
            for n in range(10)
        ]
    )
    assert all("errors" not in r for r in results), results
    consents = await my_consents(customer)
    assert len(consents["history"]["items"]) == 10
    newest = consents["history"]["items"][0]["granted"]
    assert {s["granted"] for s in consents["current"] if s["purpose"] == "ANALYTICS"} == {newest}
    assert await count(database, Consent) == len(CHANNELS)


# --- bad input, roles, unknown people ----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"consents": []}, "consents"),
        (
            {
                "consents": [
                    {"purpose": "MARKETING", "channel": "WEB", "granted": True},
                    {"purpose": "MARKETING", "channel": "WEB", "granted": False},
                ]
            },
            "consents",
        ),
        (
            {
                "consents": [
                    {"purpose": "ANALYTICS", "granted": True},
                    {"purpose": "ANALYTICS", "granted": True},
                ]
            },
            "consents",
        ),
        (
            {"consents": [{"purpose": "MARKETING", "granted": True}], "noticeVersion": "v" * 33},
            "noticeVersion",
        ),
        (
            {"consents": [{"purpose": "MARKETING", "granted": True}], "noticeVersion": "   "},
            "noticeVersion",
        ),
    ],
    ids=["empty", "same-channel-twice", "all-channels-twice", "notice-too-long", "notice-blank"],
)
async def test_bad_consent_updates_are_refused_and_change_nothing(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    given: dict[str, Any],
    field: str,
) -> None:
    person, customer = await new_person(service_client, client_for)
    body = await gql(customer, UPDATE, {"input": given})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"].get("field") == field
    assert body["data"] == {"updateMyConsents": None}
    assert await count(database, Consent) == 0
    assert await count(database, ConsentChange) == 0
    assert await decision(service_client, person, "MARKETING", "WEB") == (False, "NO_CONSENT")


async def test_a_notice_version_of_exactly_32_characters_is_kept(
    service_client: httpx.AsyncClient, client_for: ClientFactory, notices_published: None
) -> None:
    _, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}], notice_version="n" * 32)
    history = (await my_consents(customer))["history"]["items"]
    assert [h["noticeVersion"] for h in history] == ["n" * 32]


async def test_only_a_customer_may_update_their_consents(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    await new_person(service_client, client_for)
    given = {"input": {"consents": [{"purpose": "MARKETING", "granted": True}]}}
    for role in (Role.SERVICE, Role.SUPPORT, Role.COMPLIANCE, Role.ANALYST, Role.MARKETER):
        body = await gql(client_for(role), UPDATE, given)
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"updateMyConsents": None}
    assert await count(database, ConsentChange) == 0


async def test_only_service_may_ask_can_contact_or_record_a_contact(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.ANALYST, Role.MARKETER):
        client = client_for(role, subject=person if role is Role.CUSTOMER else None)
        body = await gql(
            client, CAN_CONTACT, {"profileId": person, "purpose": "MARKETING", "channel": "WEB"}
        )
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"canContact": None}
        body = await record_contact(client, person, "MARKETING", "WEB")
        assert error_codes(body) == ["FORBIDDEN"], role
        assert body["data"] == {"recordContact": None}
    assert await count(database, Contact) == 0


async def test_an_unknown_profile_id_is_not_found(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    body = await gql(
        service_client,
        CAN_CONTACT,
        {"profileId": "no-such-profile", "purpose": "MARKETING", "channel": "WEB"},
    )
    assert error_codes(body) == ["NOT_FOUND"]
    body = await record_contact(service_client, "no-such-profile", "ACTIVITY_NOTIFICATIONS", "WEB")
    assert error_codes(body) == ["NOT_FOUND"]
    stranger = client_for(Role.CUSTOMER, subject="no-such-profile")
    body = await gql(
        stranger, UPDATE, {"input": {"consents": [{"purpose": "MARKETING", "granted": True}]}}
    )
    assert error_codes(body) == ["NOT_FOUND"]
    assert await count(database, Contact) == 0
    assert await count(database, ConsentChange) == 0
    assert await count(database, Profile) == 0


# --- recordContact and frequency caps ----------------------------------------------------------


async def test_a_contact_without_consent_is_refused_naming_the_reason(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    body = await record_contact(service_client, person, "MARKETING", "MINI_PROGRAM")
    assert error_codes(body) == ["CONFLICT"]
    assert "NO_CONSENT" in body["errors"][0]["message"]
    assert body["data"] == {"recordContact": None}

    await choose(customer, [{"purpose": "ACTIVITY_NOTIFICATIONS", "granted": False}])
    body = await record_contact(service_client, person, "ACTIVITY_NOTIFICATIONS", "WEB")
    assert error_codes(body) == ["CONFLICT"]
    assert "OPTED_OUT" in body["errors"][0]["message"]
    assert await count(database, Contact) == 0


async def test_the_default_marketing_cap_allows_one_contact_per_channel_per_day(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])

    first = await record_contact(service_client, person, "MARKETING", "MINI_PROGRAM")
    assert "errors" not in first, first
    sent = first["data"]["recordContact"]
    assert sent["purpose"] == "MARKETING"
    assert sent["channel"] == "MINI_PROGRAM"
    assert datetime.fromisoformat(sent["sentAt"]).tzinfo is not None

    again = await record_contact(service_client, person, "MARKETING", "MINI_PROGRAM")
    assert error_codes(again) == ["CONFLICT"]
    assert "FREQUENCY_CAP" in again["errors"][0]["message"]

    other = await record_contact(service_client, person, "MARKETING", "OFFICIAL_ACCOUNT")
    assert "errors" not in other, other

    assert await decision(service_client, person, "MARKETING", "MINI_PROGRAM") == (
        False,
        "FREQUENCY_CAP",
    )
    assert await decision(service_client, person, "MARKETING", "OFFICIAL_ACCOUNT") == (
        False,
        "FREQUENCY_CAP",
    )
    assert await decision(service_client, person, "MARKETING", "WEB") == (True, "CONSENTED")
    assert await count(database, Contact) == 2


async def test_the_cap_is_checked_after_consent(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    assert "errors" not in await record_contact(service_client, person, "MARKETING", "WEB")
    await choose(customer, [{"purpose": "MARKETING", "channel": "WEB", "granted": False}])
    assert await decision(service_client, person, "MARKETING", "WEB") == (False, "OPTED_OUT")


async def test_a_purpose_without_a_configured_cap_allows_many_contacts(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, _ = await new_person(service_client, client_for)
    for _ in range(6):
        body = await record_contact(service_client, person, "ACTIVITY_NOTIFICATIONS", "WEB")
        assert "errors" not in body, body
    assert await decision(service_client, person, "ACTIVITY_NOTIFICATIONS", "WEB") == (
        True,
        "DEFAULT",
    )
    assert await count(database, Contact) == 6


async def test_a_cap_configured_in_settings_is_enforced(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    database_url: str,
) -> None:
    person, _ = await new_person(service_client, client_for)
    caps = {"ACTIVITY_NOTIFICATIONS": {"limit": 2, "hours": 1}}
    async with clients_with_settings(database_url, database, contact_caps=caps) as clients:
        service = clients(Role.SERVICE)
        for _ in range(2):
            body = await record_contact(service, person, "ACTIVITY_NOTIFICATIONS", "SMS")
            assert "errors" not in body, body
        third = await record_contact(service, person, "ACTIVITY_NOTIFICATIONS", "SMS")
        assert error_codes(third) == ["CONFLICT"]
        assert "FREQUENCY_CAP" in third["errors"][0]["message"]
        assert await decision(service, person, "ACTIVITY_NOTIFICATIONS", "SMS") == (
            False,
            "FREQUENCY_CAP",
        )
        body = await record_contact(service, person, "ACTIVITY_NOTIFICATIONS", "WEB")
        assert "errors" not in body, body
    assert await count(database, Contact) == 3


async def test_the_same_idempotency_key_twice_records_one_contact(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    first = await record_contact(service_client, person, "MARKETING", "WEB", "send-2024-0001")
    again = await record_contact(service_client, person, "MARKETING", "WEB", "send-2024-0001")
    assert "errors" not in first and "errors" not in again, (first, again)
    assert again["data"]["recordContact"] == first["data"]["recordContact"]
    assert await count(database, Contact) == 1

    for bad_key in ("", "   ", "k" * 200, "cdp:reserved"):
        body = await record_contact(service_client, person, "MARKETING", "SMS", bad_key)
        assert error_codes(body) == ["BAD_USER_INPUT"], bad_key
        assert body["errors"][0]["extensions"].get("field") == "idempotencyKey"

    # The key names one send: reusing it for another one is a conflict.
    other = await record_contact(service_client, person, "MARKETING", "SMS", "send-2024-0001")
    assert error_codes(other) == ["CONFLICT"]
    assert await count(database, Contact) == 1


@CITUS
async def test_concurrent_sends_with_one_idempotency_key_record_one_contact(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, _ = await new_person(service_client, client_for)
    results = await asyncio.gather(
        *[
            record_contact(
                client_for(Role.SERVICE), person, "ACTIVITY_NOTIFICATIONS", "WEB", "notify-1"
            )
            for _ in range(10)
        ]
    )
    assert all("errors" not in r for r in results), results
    assert len({r["data"]["recordContact"]["id"] for r in results}) == 1
    assert await count(database, Contact) == 1


async def test_concurrent_reuse_of_one_idempotency_key_in_other_channels_is_a_conflict(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    results = await asyncio.gather(
        *[
            record_contact(client_for(Role.SERVICE), person, "MARKETING", channel, "promo-1")
            for channel in CHANNELS * 2
        ]
    )
    codes = [error_codes(r) for r in results]
    assert all(c in ([], ["CONFLICT"]) for c in codes), codes
    assert len({r["data"]["recordContact"]["id"] for r in results if not error_codes(r)}) == 1
    assert await count(database, Contact) == 1


@CITUS
async def test_the_frequency_cap_holds_under_concurrent_record_contact_calls(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    # Each call on its own client: its own request, connection and transaction.
    results = await asyncio.gather(
        *[
            record_contact(client_for(Role.SERVICE), person, "MARKETING", "MINI_PROGRAM")
            for _ in range(15)
        ]
    )
    sent = [r for r in results if "errors" not in r]
    refused = [r for r in results if "errors" in r]
    assert len(sent) == 1, results
    assert len(refused) == 14
    for body in refused:
        assert error_codes(body) == ["CONFLICT"], body
        assert "FREQUENCY_CAP" in body["errors"][0]["message"]
    assert await count(database, Contact) == 1


async def test_a_cap_of_three_holds_under_concurrent_record_contact_calls(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    database_url: str,
) -> None:
    person, customer = await new_person(service_client, client_for)
    await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    caps = {"MARKETING": {"limit": 3, "hours": 24}}
    async with clients_with_settings(database_url, database, contact_caps=caps) as clients:
        results = await asyncio.gather(
            *[
                record_contact(clients(Role.SERVICE), person, "MARKETING", "MINI_PROGRAM")
                for _ in range(15)
            ]
        )
    assert sum("errors" not in r for r in results) == 3, results
    assert all(error_codes(r) == ["CONFLICT"] for r in results if "errors" in r)
    assert await count(database, Contact) == 3


# --- merges ------------------------------------------------------------------------------------


@CITUS
async def test_a_merge_keeps_the_more_restrictive_choice_and_both_histories(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    notices_published: None,
) -> None:
    union = "oUnion_consent_merge_000001"
    # A: seen first by the official account, without a UnionID; B: the mini-program, with one.
    a, customer_a = await new_person(
        service_client,
        client_for,
        "oOffi_consent_merge_00000001",
        channel="OFFICIAL_ACCOUNT",
        app_id=OFFICIAL,
    )
    b, customer_b = await new_person(
        service_client, client_for, "oMini_consent_merge_00000001", union_id=union
    )
    await choose(
        customer_a,
        [
            {"purpose": "MARKETING", "channel": "WEB", "granted": True},
            {"purpose": "PERSONALIZATION", "granted": False},
            {"purpose": "ANALYTICS", "channel": "OFFICIAL_ACCOUNT", "granted": False},
            {"purpose": "MARKETING", "channel": "SMS", "granted": True},
        ],
        notice_version="a-1",
        source_channel="OFFICIAL_ACCOUNT",
    )
    await choose(
        customer_b,
        [
            {"purpose": "MARKETING", "channel": "WEB", "granted": False},
            {"purpose": "PERSONALIZATION", "granted": True},
            {"purpose": "ACTIVITY_NOTIFICATIONS", "channel": "MINI_PROGRAM", "granted": False},
            {"purpose": "MARKETING", "channel": "MINI_PROGRAM", "granted": True},
            {"purpose": "MARKETING", "channel": "SMS", "granted": True},
        ],
        notice_version="b-1",
        source_channel="MINI_PROGRAM",
    )

    merged = await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_consent_merge_00000001", union
    )
    survivor = merged["id"]
    assert survivor in (a, b)
    assert await count(database, Profile) == 1

    # Conflicts: the more restrictive choice.
    assert await decision(service_client, survivor, "MARKETING", "WEB") == (False, "OPTED_OUT")
    assert await decisions(service_client, survivor, "PERSONALIZATION") == everywhere(
        False, "OPTED_OUT"
    )
    # Agreement and choices only one of them made are kept.
    assert await decision(service_client, survivor, "MARKETING", "SMS") == (True, "CONSENTED")
    assert await decision(service_client, survivor, "MARKETING", "MINI_PROGRAM") == (
        True,
        "CONSENTED",
    )
    assert await decision(service_client, survivor, "MARKETING", "OFFICIAL_ACCOUNT") == (
        False,
        "NO_CONSENT",
    )
    assert await decision(service_client, survivor, "ANALYTICS", "OFFICIAL_ACCOUNT") == (
        False,
        "OPTED_OUT",
    )
    assert await decision(service_client, survivor, "ANALYTICS", "MINI_PROGRAM") == (
        True,
        "DEFAULT",
    )
    assert await decision(service_client, survivor, "ACTIVITY_NOTIFICATIONS", "MINI_PROGRAM") == (
        False,
        "OPTED_OUT",
    )
    assert await decision(service_client, survivor, "ACTIVITY_NOTIFICATIONS", "WEB") == (
        True,
        "DEFAULT",
    )
    # The merged-away id leads to the same answers.
    loser = b if survivor == a else a
    assert await decision(service_client, loser, "MARKETING", "WEB") == (False, "OPTED_OUT")

    # Both people's histories, on the survivor.
    consents = await my_consents(client_for(Role.CUSTOMER, subject=survivor), first=100)
    history = consents["history"]["items"]
    assert len(history) == 9
    assert {h["changedBy"] for h in history} == {a, b}
    assert sorted(h["noticeVersion"] for h in history) == ["a-1"] * 4 + ["b-1"] * 5
    current = {(s["purpose"], s["channel"]): s for s in consents["current"]}
    assert current[("MARKETING", "WEB")]["granted"] is False
    assert all(current[("PERSONALIZATION", c)]["granted"] is False for c in CHANNELS)

    survivor_id = await surrogate_id(database, survivor)
    async with database.transaction() as session:
        owners = set((await session.scalars(sa.select(Consent.profile_id))).all())
        history_owners = set((await session.scalars(sa.select(ConsentChange.profile_id))).all())
        per_choice = (
            await session.execute(
                sa.select(Consent.purpose, Consent.channel, sa.func.count()).group_by(
                    Consent.purpose, Consent.channel
                )
            )
        ).all()
    assert owners == {survivor_id}
    assert history_owners == {survivor_id}
    assert all(n == 1 for _, _, n in per_choice)


@CITUS
async def test_a_merge_carries_contacts_so_the_cap_still_holds(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    union = "oUnion_contact_merge_000001"
    _, customer_a = await new_person(
        service_client,
        client_for,
        "oOffi_contact_merge_00000001",
        channel="OFFICIAL_ACCOUNT",
        app_id=OFFICIAL,
    )
    b, customer_b = await new_person(
        service_client, client_for, "oMini_contact_merge_00000001", union_id=union
    )
    for customer in (customer_a, customer_b):
        await choose(customer, [{"purpose": "MARKETING", "granted": True}])
    body = await record_contact(service_client, b, "MARKETING", "MINI_PROGRAM")
    assert "errors" not in body, body
    survivor = (
        await link(
            service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_contact_merge_00000001", union
        )
    )["id"]
    assert await decision(service_client, survivor, "MARKETING", "MINI_PROGRAM") == (
        False,
        "FREQUENCY_CAP",
    )
    assert await count(database, Contact) == 1


# --- audit -------------------------------------------------------------------------------------


async def test_consent_updates_and_contacts_leave_audit_records(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    notices_published: None,
) -> None:
    person, customer = await new_person(service_client, client_for)
    surrogate = await surrogate_id(database, person)

    await choose(customer, [{"purpose": "MARKETING", "channel": "WEB", "granted": True}])
    await choose(customer, [{"purpose": "ANALYTICS", "granted": False}], notice_version="v2")
    updates = await audit_rows(database, "consent.update")
    assert [
        (r["actor_role"], r["actor_subject"], r["profile_id"], r["outcome"]) for r in updates
    ] == [
        ("customer", person, surrogate, "ok"),
        ("customer", person, surrogate, "ok"),
    ]
    assert updates[1]["detail"]["choices"] == [
        {"purpose": "ANALYTICS", "channel": None, "granted": False}
    ]

    assert "errors" not in await record_contact(service_client, person, "MARKETING", "WEB")
    refused = await record_contact(service_client, person, "MARKETING", "WEB")
    assert error_codes(refused) == ["CONFLICT"]
    contacts = await audit_rows(database, "contact.record")
    assert [(r["actor_role"], r["profile_id"], r["outcome"]) for r in contacts] == [
        ("service", surrogate, "ok"),
        ("service", surrogate, "conflict"),
    ]
    assert contacts[0]["detail"] == {"purpose": "MARKETING", "channel": "WEB"}

    # A refused update is recorded too, with its outcome.
    bad = await gql(customer, UPDATE, {"input": {"consents": []}})
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    updates = await audit_rows(database, "consent.update")
    assert [r["outcome"] for r in updates] == ["ok", "ok", "bad_user_input"]
