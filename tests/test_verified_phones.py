"""Verified phones on both databases: a typed-in phone is an unverified claim, a lookup by
phone reaches the verified holder whatever others claim, one verified holder per phone (a
second is kept for review, or merged when merge by verified phone is on), unverified claims
never merge, and merges keep the verified phone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.profiles.models import IdentityReview, PhoneSource, Profile, ReviewStatus
from tests.conftest import ClientFactory, error_codes, gql, make_settings
from tests.support.people import MINI, OFFICIAL, link
from tests.support.phones import PHONE_STATE, phone_state, verify

OWNER_PHONE = "13912345678"
BY_PHONE = 'query P($phone: String) { profile(phone: $phone, purpose: "ticket 7") ' + (
    PHONE_STATE + " }"
)
SET_PHONE = "mutation S($p: String) { updateMyProfile(input: {phone: $p}) " + PHONE_STATE + " }"


@pytest.fixture
def merging(database_url: str) -> Settings:
    return make_settings(database_url, identity_rules={"phone": {"merge": True}})


async def person(client: httpx.AsyncClient, n: int, union: str | None = None) -> str:
    found = await link(client, "MINI_PROGRAM", MINI, f"oMini_phone_{n:016d}", union)
    return str(found["id"])


async def claim(client_for: ClientFactory, public_id: str, phone: str | None) -> dict[str, Any]:
    body = await gql(client_for(Role.CUSTOMER, public_id), SET_PHONE, {"p": phone})
    assert "errors" not in body, body
    return body["data"]["updateMyProfile"]  # type: ignore[no-any-return]


async def by_phone(client: httpx.AsyncClient, phone: str = OWNER_PHONE) -> dict[str, Any]:
    return await gql(client, BY_PHONE, {"phone": phone})


async def test_a_phone_the_customer_types_in_is_unverified_and_self_entered(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    me = await claim(client_for, await person(service_client, 1), OWNER_PHONE)
    assert me["phoneVerified"] is False and me["phoneSource"] == "SELF_ENTERED"


async def test_a_profile_without_a_phone_has_no_verification_state(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    me = await claim(client_for, await person(service_client, 1), None)
    assert me == {"id": me["id"], "phone": None, "phoneVerified": None, "phoneSource": None}


async def test_a_claim_of_someone_elses_phone_never_hides_its_verified_holder(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    owner, claimant = await person(service_client, 1), await person(service_client, 2)
    await verify(database, vault, settings, owner, OWNER_PHONE)
    # Customer B sets A's phone as their own.
    mine = await claim(client_for, claimant, OWNER_PHONE)
    assert mine["phoneVerified"] is False and mine["phone"] == OWNER_PHONE
    found = await by_phone(support_client)
    assert "errors" not in found, found
    assert found["data"]["profile"] == {
        "id": owner,
        "phone": "139****5678",
        "phoneVerified": True,
        "phoneSource": "WECHAT",
    }
    for client in (client_for(Role.COMPLIANCE), service_client):
        again = await gql(client, BY_PHONE.replace(" phone ", " "), {"phone": OWNER_PHONE})
        assert again["data"]["profile"]["id"] == owner
        assert again["data"]["profile"]["phoneVerified"] is True
    # B's claim stays a claim: never verified, never merged.
    assert await phone_state(database, claimant) == {
        "has_phone": True,
        "verified": False,
        "source": "SELF_ENTERED",
    }


async def test_a_claim_made_before_the_owner_verifies_stops_reaching_anyone_but_the_owner(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    owner, claimant = await person(service_client, 1), await person(service_client, 2)
    await claim(client_for, claimant, OWNER_PHONE)
    assert (await by_phone(support_client))["data"]["profile"]["id"] == claimant
    await verify(database, vault, settings, owner, OWNER_PHONE, PhoneSource.SMS)
    found = (await by_phone(support_client))["data"]["profile"]
    assert found["id"] == owner and found["phoneSource"] == "SMS"


async def test_a_single_unverified_claim_is_found_and_marked_unverified(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> None:
    claimant = await person(service_client, 1)
    await claim(client_for, claimant, OWNER_PHONE)
    found = (await by_phone(support_client))["data"]["profile"]
    assert found["id"] == claimant and found["phoneVerified"] is False


async def test_several_unverified_claims_and_no_holder_answer_conflict(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> None:
    for n in (1, 2):
        await claim(client_for, await person(service_client, n), OWNER_PHONE)
    body = await by_phone(support_client)
    assert error_codes(body) == ["CONFLICT"]
    assert body["errors"][0]["extensions"]["reason"] == "PHONE_UNVERIFIED"


async def test_retyping_the_verified_phone_keeps_it_verified_and_another_does_not(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    owner = await person(service_client, 1)
    await verify(database, vault, settings, owner, OWNER_PHONE)
    same = await claim(client_for, owner, "+86 139-1234-5678")
    assert same["phoneVerified"] is True and same["phoneSource"] == "WECHAT"
    other = await claim(client_for, owner, "13800001111")
    assert other["phoneVerified"] is False and other["phoneSource"] == "SELF_ENTERED"


async def test_a_second_profile_verifying_a_held_phone_is_kept_for_review_with_merge_off(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    owner, second = await person(service_client, 1), await person(service_client, 2)
    await verify(database, vault, settings, owner, OWNER_PHONE)
    outcome = await verify(database, vault, settings, second, OWNER_PHONE, PhoneSource.SMS)
    assert outcome.review is not None and outcome.merged_profile_ids == ()
    async with database.transaction() as session:
        review = await session.scalar(sa.select(IdentityReview))
    assert review is not None and review.rule == "phone" and review.status is ReviewStatus.OPEN
    assert review.detail == {"via": "phone.sms", "broken": {"phone": 2}}
    assert await phone_state(database, second) == {
        "has_phone": False,
        "verified": False,
        "source": None,
    }
    assert (await by_phone(support_client))["data"]["profile"]["id"] == owner


async def test_with_merge_by_verified_phone_on_a_second_verification_merges_into_the_older(
    merging: Settings,
    client_for: ClientFactory,
    database: Database,
    vault: Vault,
) -> None:
    service_client = client_for(Role.SERVICE)
    owner = await person(service_client, 1)
    second = (await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_phone_2"))["id"]
    await verify(database, vault, merging, owner, OWNER_PHONE)
    outcome = await verify(database, vault, merging, second, OWNER_PHONE, PhoneSource.SMS)
    assert outcome.review is None and outcome.profile.public_id == owner
    assert len(outcome.merged_profile_ids) == 1
    found = (await by_phone(client_for(Role.SUPPORT)))["data"]["profile"]
    assert found["id"] == owner and found["phoneSource"] == "SMS"
    lookup = 'query L($id: ID) { profile(id: $id, purpose: "t") { id identities { appId } } }'
    merged = await gql(service_client, lookup, {"id": second})
    assert merged["data"]["profile"]["id"] == owner  # the loser's id is an alias
    assert {i["appId"] for i in merged["data"]["profile"]["identities"]} == {MINI, OFFICIAL}


async def test_a_phone_merge_that_would_break_another_limit_is_kept_for_review(
    merging: Settings, client_for: ClientFactory, database: Database, vault: Vault
) -> None:
    service_client = client_for(Role.SERVICE)
    owner = await person(service_client, 1, "oUnion_phone_one_000000000001")
    second = await person(service_client, 2, "oUnion_phone_two_000000000002")
    await verify(database, vault, merging, owner, OWNER_PHONE)
    outcome = await verify(database, vault, merging, second, OWNER_PHONE)
    assert outcome.review is not None and outcome.review.rule == "union_id"
    async with database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Profile)) == 2


async def test_unverified_claims_never_merge_even_with_merge_by_phone_on(
    merging: Settings, client_for: ClientFactory, database: Database, vault: Vault
) -> None:
    service_client = client_for(Role.SERVICE)
    owner, claimant = await person(service_client, 1), await person(service_client, 2)
    await claim(client_for, claimant, OWNER_PHONE)
    outcome = await verify(database, vault, merging, owner, OWNER_PHONE)
    assert outcome.merged_profile_ids == () and outcome.review is None
    assert (await phone_state(database, claimant))["verified"] is False


async def test_a_union_id_merge_of_two_different_verified_phones_is_kept_for_review(
    service_client: httpx.AsyncClient, database: Database, vault: Vault, settings: Settings
) -> None:
    mini = await person(service_client, 1)
    official = (await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_phone_1"))["id"]
    await verify(database, vault, settings, mini, OWNER_PHONE)
    await verify(database, vault, settings, official, "13800001111")
    union = "oUnion_phone_same_person_0001"
    await link(service_client, "MINI_PROGRAM", MINI, "oMini_phone_0000000000000001", union)
    body = await gql(
        service_client,
        "mutation L($i: LinkIdentityInput!) { linkIdentity(input: $i) { id } }",
        {
            "i": {
                "channel": "OFFICIAL_ACCOUNT",
                "appId": OFFICIAL,
                "openId": "oOffi_phone_1",
                "unionId": union,
            }
        },
    )
    assert error_codes(body) == ["CONFLICT"]
    assert body["errors"][0]["extensions"]["reason"] == "IDENTITY_REVIEW"
    async with database.transaction() as session:
        review = await session.scalar(sa.select(IdentityReview))
    assert review is not None and review.rule == "phone"


async def test_a_merge_keeps_the_losers_verified_phone_over_the_survivors_claim(
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    older = await person(service_client, 1)
    newer = (await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_phone_3"))["id"]
    await claim(client_for, older, "13800001111")
    await verify(database, vault, settings, newer, OWNER_PHONE)
    union = "oUnion_phone_merge_keeps_0001"
    await link(service_client, "MINI_PROGRAM", MINI, "oMini_phone_0000000000000001", union)
    await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_phone_3", union)
    assert await phone_state(database, older) == {
        "has_phone": True,
        "verified": True,
        "source": "WECHAT",
    }
    assert (await by_phone(support_client))["data"]["profile"]["id"] == older


async def test_a_phone_blocked_by_the_identity_rules_is_never_verified(
    database_url: str, client_for: ClientFactory, database: Database, vault: Vault
) -> None:
    rules = make_settings(database_url, identity_rules={"phone": {"blocked": [r"\+86139.*"]}})
    owner = await person(client_for(Role.SERVICE), 1)
    with pytest.raises(Exception) as refused:
        await verify(database, vault, rules, owner, OWNER_PHONE)
    assert getattr(refused.value, "field", None) == "phone"
