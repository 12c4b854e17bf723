"""linkIdentity: first sight, attach, upgrade, merge, refusal, concurrency (both databases)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.profiles import service
from cdp.profiles.models import Identity, Profile, ProfileMerge
from tests.conftest import audited, error_codes, gql
from tests.support.people import CHANNELS_APP, LINK, MINI, OFFICIAL, WEB_APP, count, link

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus


@CITUS
async def test_first_sight_of_an_identity_creates_a_profile(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    profile = await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_first_sight_0000000001",
        "oUnion_first_00000000000001",
    )
    assert profile["unionId"] == "oUnion_first_00000000000001"
    assert profile["identities"] == [
        {"channel": "MINI_PROGRAM", "appId": MINI, "openId": "oMini_first_sight_0000000001"}
    ]
    assert await count(database, Profile) == 1


async def test_linking_the_same_identity_twice_changes_nothing(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    first = await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_repeat_000000000000001",
        "oUnion_repeat_0000000000001",
    )
    again = await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_repeat_000000000000001",
        "oUnion_repeat_0000000000001",
    )
    without_union = await link(service_client, "MINI_PROGRAM", MINI, "oMini_repeat_000000000000001")
    assert first == again == without_union
    assert await count(database, Profile) == 1
    assert await count(database, Identity) == 1


async def test_a_known_union_id_attaches_a_new_open_id_to_its_profile(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    union = "oUnion_attach_0000000000001"
    first = await link(service_client, "MINI_PROGRAM", MINI, "oMini_attach_000000000000001", union)
    second = await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_attach_000000000000001", union
    )
    third = await link(
        service_client, "CHANNELS", CHANNELS_APP, "oChan_attach_000000000000001", union
    )
    assert first["id"] == second["id"] == third["id"]
    assert [i["channel"] for i in third["identities"]] == [
        "MINI_PROGRAM",
        "OFFICIAL_ACCOUNT",
        "CHANNELS",
    ]
    assert await count(database, Profile) == 1


async def test_an_open_id_only_profile_is_upgraded_when_its_union_id_arrives(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    bare = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_upgrade_00000000000001")
    assert bare["unionId"] is None
    upgraded = await link(
        service_client,
        "OFFICIAL_ACCOUNT",
        OFFICIAL,
        "oOffi_upgrade_00000000000001",
        "oUnion_upgrade_000000000001",
    )
    assert upgraded["id"] == bare["id"]
    assert upgraded["unionId"] == "oUnion_upgrade_000000000001"
    attached = await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_upgrade_00000000000001",
        "oUnion_upgrade_000000000001",
    )
    assert attached["id"] == bare["id"]
    assert await count(database, Profile) == 1


@CITUS
async def test_a_union_id_that_shows_two_profiles_are_one_person_merges_them(
    service_client: httpx.AsyncClient, database: Database, client_for: Any
) -> None:
    union = "oUnion_merge_00000000000001"
    # The official account saw the person first, without a UnionID...
    older = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_merge_0000000000000001")
    # ...then the mini-program and the website saw them with one.
    newer = await link(service_client, "MINI_PROGRAM", MINI, "oMini_merge_0000000000000001", union)
    await link(service_client, "WEB", WEB_APP, "oWeb_merge_00000000000000001", union)
    assert older["id"] != newer["id"]
    assert await count(database, Profile) == 2

    merged = await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_merge_0000000000000001", union
    )

    assert merged["id"] == older["id"], "the older profile survives"
    assert merged["unionId"] == union
    assert sorted(i["openId"] for i in merged["identities"]) == sorted(
        [
            "oOffi_merge_0000000000000001",
            "oMini_merge_0000000000000001",
            "oWeb_merge_00000000000000001",
        ]
    )
    assert await count(database, Profile) == 1
    assert await count(database, Identity) == 3
    async with database.transaction() as session:
        record = (await session.scalars(sa.select(ProfileMerge))).one()
    assert record.loser_public_id == newer["id"]
    assert record.moved["identities"] == 2 and record.moved["data_keys"] == 1
    assert record.moved["profile_keys"] == 4  # each identity's OpenID, alone and in its app
    moving = ("identities", "data_keys", "profile_keys")
    assert not any(n for name, n in record.moved.items() if name not in moving)
    assert record.reason == "union_id"

    # A customer holding a token for the merged-away profile reaches the survivor.
    from cdp.auth import Role

    customer = client_for(Role.CUSTOMER, subject=newer["id"])
    body = await gql(customer, "{ me { id unionId } }")
    assert body["data"]["me"] == {"id": older["id"], "unionId": union}


@CITUS
async def test_merging_keeps_the_survivors_personal_fields_and_fills_gaps_from_the_loser(
    service_client: httpx.AsyncClient, database: Database, client_for: Any, vault: Vault
) -> None:
    from cdp.auth import Role

    older = await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_fields_0000000000000001"
    )
    newer = await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_fields_0000000000000001",
        "oUnion_fields_000000000001",
    )
    async with audited(database) as session:
        for public_id, values in (
            (older["id"], {"name": "王小明"}),
            (newer["id"], {"name": "王明", "phone": "13812345678"}),
        ):
            profile = await service.get_profile(session=session, public_id=public_id)
            assert profile is not None
            await service.update_personal_fields(
                session=session, vault=vault, profile=profile, **values
            )
    await link(
        service_client,
        "OFFICIAL_ACCOUNT",
        OFFICIAL,
        "oOffi_fields_0000000000000001",
        "oUnion_fields_000000000001",
    )
    customer = client_for(Role.CUSTOMER, subject=older["id"])
    body = await gql(customer, "{ me { name phone } }")
    assert body["data"]["me"] == {"name": "王小明", "phone": "13812345678"}


async def test_an_open_id_bound_to_another_union_id_is_a_conflict(
    service_client: httpx.AsyncClient,
) -> None:
    await link(
        service_client,
        "MINI_PROGRAM",
        MINI,
        "oMini_conflict_00000000000001",
        "oUnion_conflict_A0000000001",
    )
    body = await gql(
        service_client,
        LINK,
        {
            "input": {
                "channel": "MINI_PROGRAM",
                "appId": MINI,
                "openId": "oMini_conflict_00000000000001",
                "unionId": "oUnion_conflict_B0000000001",
            }
        },
    )
    assert error_codes(body) == ["CONFLICT"]
    assert body["data"] == {"linkIdentity": None}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("openId", ""),
        ("openId", "   "),
        ("openId", "null"),
        ("openId", "undefined"),
        ("openId", "0"),
        ("openId", "NULL"),
        ("openId", "o" * 65),
        ("openId", " oPadded_00000000000000000001"),
        ("openId", "oTab\t000000000000000000000001"),
        ("appId", ""),
        ("appId", "undefined"),
        ("unionId", ""),
        ("unionId", "  "),
        ("unionId", "null"),
        ("unionId", "undefined"),
        ("unionId", "0"),
        ("unionId", "u" * 65),
    ],
)
async def test_unusable_identifiers_are_refused_with_bad_user_input(
    service_client: httpx.AsyncClient, database: Database, field: str, value: str
) -> None:
    identity = {
        "channel": "MINI_PROGRAM",
        "appId": MINI,
        "openId": "oMini_valid_0000000000000001",
        "unionId": "oUnion_valid_0000000000001",
    }
    identity[field] = value
    body = await gql(service_client, LINK, {"input": identity})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    assert await count(database, Profile) == 0


async def test_sms_is_not_an_app_and_cannot_carry_an_open_id(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    body = await gql(
        service_client,
        LINK,
        {"input": {"channel": "SMS", "appId": MINI, "openId": "oMini_valid_0000000000000001"}},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await count(database, Profile) == 0


async def test_an_app_id_keeps_the_channel_it_was_first_seen_with(
    service_client: httpx.AsyncClient,
) -> None:
    await link(service_client, "MINI_PROGRAM", MINI, "oMini_channel_00000000000001")
    body = await gql(
        service_client,
        LINK,
        {"input": {"channel": "WEB", "appId": MINI, "openId": "oMini_channel_00000000000001"}},
    )
    assert error_codes(body) == ["CONFLICT"]


@CITUS
async def test_concurrent_links_for_one_person_never_create_two_profiles(
    client_for: Any, database: Database
) -> None:
    from cdp.auth import Role

    union = "oUnion_parallel_00000000001"
    apps = [
        ("MINI_PROGRAM", MINI),
        ("OFFICIAL_ACCOUNT", OFFICIAL),
        ("CHANNELS", CHANNELS_APP),
        ("WEB", WEB_APP),
    ]
    # Each call on its own client, so each runs on its own connection and transaction.
    calls = []
    for n in range(16):
        channel, app_id = apps[n % 4]
        client = client_for(Role.SERVICE)
        open_id = f"oPar_{channel[:4]}_{n % 4:022d}"
        calls.append(link(client, channel, app_id, open_id, union if n % 3 else None))
    results = await asyncio.gather(*calls)
    assert await count(database, Profile) == 1
    # A call that ran before the UnionID was known may name a profile merged away since;
    # every id handed out still leads to the one surviving profile.
    async with database.transaction() as session:
        survivors = {
            (await service.get_profile(session=session, public_id=r["id"])).public_id  # type: ignore[union-attr]
            for r in results
        }
    assert len(survivors) == 1
    assert await count(database, Identity) == 4


@CITUS
async def test_concurrent_first_sights_of_one_open_id_create_one_profile(
    client_for: Any, database: Database
) -> None:
    from cdp.auth import Role

    results = await asyncio.gather(
        *[
            link(client_for(Role.SERVICE), "MINI_PROGRAM", MINI, "oMini_race_0000000000000001")
            for _ in range(12)
        ]
    )
    assert len({r["id"] for r in results}) == 1
    assert await count(database, Profile) == 1
    assert await count(database, Identity) == 1
