"""Tiers from the last twelve months' paid spend (configurable, lowered by refunds), and tags:
tagProfile / untagProfile with their source and time, profilesByTag for services (both
databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.audit.models import AuditEvent
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.orders.models import Order
from cdp.tags.models import ProfileTag
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, gql, make_settings
from tests.support.people import MINI, count, link
from tests.support.purchases import RECORD

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
TIER = "{ me { tier } }"
TAGS = "{ me { tags { items { name source taggedAt } pageInfo { endCursor hasNextPage } } } }"
TAG = """
mutation Tag($input: TagProfileInput!) {
  tagProfile(input: $input) { id tags { items { name source taggedAt } } }
}
"""
UNTAG = """
mutation Untag($input: UntagProfileInput!) {
  untagProfile(input: $input) { id tags { items { name source taggedAt } } }
}
"""
BY_TAG = """
query ByTag($tag: String!, $first: Int! = 20, $after: String) {
  profilesByTag(tag: $tag, first: $first, after: $after) {
    items { id tier }
    pageInfo { endCursor hasNextPage }
  }
}
"""


async def new_profile(service_client: httpx.AsyncClient, n: int) -> str:
    profile = await link(service_client, "MINI_PROGRAM", MINI, f"oTierTagPerson{n:014d}")
    return str(profile["id"])


async def pay(
    service_client: httpx.AsyncClient,
    profile_id: str,
    external_id: str,
    fen: int,
    *,
    days_ago: float = 1,
    status: str = "PAID",
) -> dict[str, Any]:
    """Record an order of one line worth `fen`, paid `days_ago` days ago."""
    paid_at = datetime.now(UTC) - timedelta(days=days_ago)
    body = await gql(
        service_client,
        RECORD,
        {
            "input": {
                "profileId": profile_id,
                "channel": "MINI_PROGRAM",
                "externalId": external_id,
                "status": status,
                "items": [{"sku": "SKU-1", "name": "商品", "quantity": 1, "unitPriceFen": fen}],
                "paidAt": paid_at.isoformat(),
            }
        },
    )
    assert "errors" not in body, body
    return body["data"]["recordOrder"]  # type: ignore[no-any-return]


async def refund(service_client: httpx.AsyncClient, profile_id: str, order: dict[str, Any]) -> None:
    body = await gql(
        service_client,
        RECORD,
        {
            "input": {
                "profileId": profile_id,
                "channel": order["channel"],
                "externalId": order["externalId"],
                "status": "REFUNDED",
                "items": [
                    {k: i[k] for k in ("sku", "name", "quantity", "unitPriceFen")}
                    for i in order["items"]
                ],
                "paidAt": order["paidAt"],
            }
        },
    )
    assert "errors" not in body, body
    assert body["data"]["recordOrder"]["status"] == "REFUNDED"


async def tier_of(client: httpx.AsyncClient) -> str:
    body = await gql(client, TIER)
    assert "errors" not in body, body
    return str(body["data"]["me"]["tier"])


# --- tiers -------------------------------------------------------------------------------------


async def test_a_new_profile_is_standard(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    assert await tier_of(client_for(Role.CUSTOMER, subject=profile_id)) == "STANDARD"


@pytest.mark.parametrize(
    ("orders", "tier"),
    [
        ([99_999], "STANDARD"),
        ([100_000], "VIP"),
        ([60_000, 40_000], "VIP"),
        ([499_999], "VIP"),
        ([500_000], "SUPREME"),
        ([200_000, 200_000, 100_000], "SUPREME"),
    ],
)
async def test_the_tier_follows_paid_spend_over_the_last_twelve_months(
    service_client: httpx.AsyncClient, client_for: ClientFactory, orders: list[int], tier: str
) -> None:
    profile_id = await new_profile(service_client, 1)
    for n, fen in enumerate(orders):
        await pay(service_client, profile_id, f"T-{n}", fen, days_ago=10 + n)
    assert await tier_of(client_for(Role.CUSTOMER, subject=profile_id)) == tier


async def test_the_tier_climbs_order_by_order(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    seen = []
    for n in range(6):
        await pay(service_client, profile_id, f"C-{n}", 100_000, days_ago=30 - n)
        seen.append(await tier_of(customer))
    assert seen == ["VIP", "VIP", "VIP", "VIP", "SUPREME", "SUPREME"]


async def test_what_is_paid_counts_not_the_list_price(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    body = await gql(
        service_client,
        RECORD,
        {
            "input": {
                "profileId": profile_id,
                "channel": "WEB",
                "externalId": "DISCOUNTED",
                "status": "PAID",
                "items": [{"sku": "S", "name": "商品", "quantity": 1, "unitPriceFen": 100_000}],
                "discountFen": 1,
            }
        },
    )
    assert body["data"]["recordOrder"]["totalFen"] == 99_999
    assert await tier_of(client_for(Role.CUSTOMER, subject=profile_id)) == "STANDARD"


async def test_orders_older_than_twelve_months_do_not_count(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    await pay(service_client, profile_id, "OLD-1", 600_000, days_ago=400)
    assert await tier_of(customer) == "STANDARD"
    await pay(service_client, profile_id, "RECENT-1", 100_000, days_ago=364)
    assert await tier_of(customer) == "VIP", "only the recent order counts"


async def test_shipped_and_completed_orders_count_refunded_ones_do_not(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    await pay(service_client, profile_id, "R-1", 900_000, status="REFUNDED")
    assert await tier_of(customer) == "STANDARD"
    await pay(service_client, profile_id, "S-1", 60_000, status="SHIPPED")
    await pay(service_client, profile_id, "S-2", 40_000, status="COMPLETED")
    assert await tier_of(customer) == "VIP"


async def test_a_refund_lowers_the_tier(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    big = await pay(service_client, profile_id, "BIG", 450_000, days_ago=3)
    small = await pay(service_client, profile_id, "SMALL", 60_000, days_ago=2)
    assert await tier_of(customer) == "SUPREME"
    await refund(service_client, profile_id, small)
    assert await tier_of(customer) == "VIP"
    await refund(service_client, profile_id, big)
    assert await tier_of(customer) == "STANDARD"
    async with database.transaction() as session:
        changes = (
            (
                await session.execute(
                    sa.select(AUDIT.c.detail)
                    .where(AUDIT.c.action == "tier.change")
                    .order_by(AUDIT.c.seq)
                )
            )
            .scalars()
            .all()
        )
    assert [(c["from"], c["to"]) for c in changes] == [
        ("STANDARD", "VIP"),
        ("VIP", "SUPREME"),
        ("SUPREME", "VIP"),
        ("VIP", "STANDARD"),
    ]


async def test_staff_and_services_see_the_tier(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    await pay(service_client, profile_id, "V-1", 100_000)
    query = 'query T($id: ID!) { profile(id: $id, purpose: "tier check") { tier } }'
    for role in (Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE):
        body = await gql(client_for(role), query, {"id": profile_id})
        assert body == {"data": {"profile": {"tier": "VIP"}}}, role


async def test_spend_that_ages_past_twelve_months_stops_counting(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    await pay(service_client, profile_id, "AGING", 500_000, days_ago=1)
    assert await tier_of(customer) == "SUPREME"
    # A year passes (moved on the order rather than on the clock).
    async with database.transaction() as session:
        await session.execute(
            sa.update(Order).values(paid_at=datetime.now(UTC) - timedelta(days=367))
        )
    assert await tier_of(customer) == "STANDARD"


@pytest.fixture
async def small_thresholds(database_url: str, database: Database) -> AsyncIterator[ClientFactory]:
    """Clients of an app whose tiers start at 1,000 fen (VIP) and 5,000 fen (SUPREME)."""
    settings = make_settings(database_url, tier_vip_fen=1_000, tier_supreme_fen=5_000)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    clients: list[httpx.AsyncClient] = []

    def make(role: Role, subject: str | None = None) -> httpx.AsyncClient:
        token = issue_token(settings, role=role, subject=subject or f"{role.value}-test")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_tier_thresholds_are_configurable(small_thresholds: ClientFactory) -> None:
    service_client = small_thresholds(Role.SERVICE)
    profile_id = await new_profile(service_client, 1)
    customer = small_thresholds(Role.CUSTOMER, subject=profile_id)
    await pay(service_client, profile_id, "S-1", 999)
    assert await tier_of(customer) == "STANDARD"
    await pay(service_client, profile_id, "S-2", 1)
    assert await tier_of(customer) == "VIP"
    await pay(service_client, profile_id, "S-3", 4_000)
    assert await tier_of(customer) == "SUPREME"


# --- tags --------------------------------------------------------------------------------------


async def tag(
    service_client: httpx.AsyncClient, profile_id: str, name: str, source: str | None = None
) -> dict[str, Any]:
    given = {"profileId": profile_id, "tag": name}
    if source is not None:
        given["source"] = source
    body = await gql(service_client, TAG, {"input": given})
    assert "errors" not in body, body
    return body["data"]["tagProfile"]  # type: ignore[no-any-return]


async def untag(service_client: httpx.AsyncClient, profile_id: str, name: str) -> dict[str, Any]:
    body = await gql(service_client, UNTAG, {"input": {"profileId": profile_id, "tag": name}})
    assert "errors" not in body, body
    return body["data"]["untagProfile"]  # type: ignore[no-any-return]


async def my_tags(customer: httpx.AsyncClient) -> list[dict[str, Any]]:
    body = await gql(customer, TAGS)
    assert "errors" not in body, body
    return body["data"]["me"]["tags"]["items"]  # type: ignore[no-any-return]


async def test_tags_carry_their_source_and_time(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    before = datetime.now(UTC) - timedelta(seconds=5)
    await tag(service_client, profile_id, "高价值客户", "MANUAL")
    await tag(service_client, profile_id, "recent-buyer", "RULE")
    tagged = await tag(service_client, profile_id, "crm-2024-import", "IMPORT")
    await tag(service_client, profile_id, "default-source")
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert tagged["id"] == profile_id
    tags = await my_tags(client_for(Role.CUSTOMER, subject=profile_id))
    assert {t["name"]: t["source"] for t in tags} == {
        "高价值客户": "MANUAL",
        "recent-buyer": "RULE",
        "crm-2024-import": "IMPORT",
        "default-source": "MANUAL",
    }
    for t in tags:
        assert before <= datetime.fromisoformat(t["taggedAt"]) <= after
    assert {t["name"] for t in tagged["tags"]["items"]} == {
        "高价值客户",
        "recent-buyer",
        "crm-2024-import",
    }


async def test_tagging_twice_keeps_one_tag_and_the_first_tagging(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    first = await tag(service_client, profile_id, "vip-event", "RULE")
    again = await tag(service_client, profile_id, "vip-event", "MANUAL")
    padded = await tag(service_client, profile_id, "  vip-event ", "IMPORT")
    assert first["tags"] == again["tags"] == padded["tags"]
    [only] = await my_tags(client_for(Role.CUSTOMER, subject=profile_id))
    assert only == first["tags"]["items"][0]
    assert only["source"] == "RULE"
    assert await count(database, ProfileTag) == 1


async def test_untagging_removes_the_tag_and_untagging_a_missing_tag_is_fine(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    await tag(service_client, profile_id, "keep")
    await tag(service_client, profile_id, "drop")
    removed = await untag(service_client, profile_id, "drop")
    assert [t["name"] for t in removed["tags"]["items"]] == ["keep"]
    assert [t["name"] for t in await my_tags(customer)] == ["keep"]
    missing = await untag(service_client, profile_id, "never-there")
    assert missing["id"] == profile_id
    again = await untag(service_client, profile_id, "drop")
    assert [t["name"] for t in again["tags"]["items"]] == ["keep"]
    assert await count(database, ProfileTag) == 1
    # Tagging after untagging adds it afresh.
    await tag(service_client, profile_id, "drop", "IMPORT")
    assert {t["name"]: t["source"] for t in await my_tags(customer)} == {
        "keep": "MANUAL",
        "drop": "IMPORT",
    }


async def test_tagging_and_untagging_are_audited(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    await tag(service_client, profile_id, "audited", "RULE")
    await untag(service_client, profile_id, "audited")
    async with database.transaction() as session:
        rows = (
            await session.execute(
                sa.select(AUDIT.c.action, AUDIT.c.detail)
                .where(AUDIT.c.action.in_(["tag.add", "tag.remove"]))
                .order_by(AUDIT.c.seq)
            )
        ).all()
    assert [(a, d["tag"]) for a, d in rows] == [("tag.add", "audited"), ("tag.remove", "audited")]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, "标" * 65, "tab\there\x00"])
async def test_bad_tags_are_bad_user_input(
    service_client: httpx.AsyncClient, database: Database, bad: str
) -> None:
    profile_id = await new_profile(service_client, 1)
    for query in (TAG, UNTAG):
        body = await gql(service_client, query, {"input": {"profileId": profile_id, "tag": bad}})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == "tag"
    body = await gql(service_client, BY_TAG, {"tag": bad})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await count(database, ProfileTag) == 0


async def test_a_tag_of_sixty_four_characters_is_fine(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    await tag(service_client, profile_id, "标" * 64)
    assert [t["name"] for t in await my_tags(client_for(Role.CUSTOMER, subject=profile_id))] == [
        "标" * 64
    ]


async def test_tagging_an_unknown_profile_is_not_found(
    service_client: httpx.AsyncClient,
) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    for query in (TAG, UNTAG):
        body = await gql(service_client, query, {"input": {"profileId": unknown, "tag": "x"}})
        assert error_codes(body) == ["NOT_FOUND"]


async def test_only_services_tag_and_untag(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id = await new_profile(service_client, 1)
    await tag(service_client, profile_id, "kept")
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.ANALYST, Role.MARKETER):
        client = client_for(role, subject=profile_id if role is Role.CUSTOMER else None)
        for query, name in ((TAG, "new"), (UNTAG, "kept")):
            body = await gql(client, query, {"input": {"profileId": profile_id, "tag": name}})
            assert error_codes(body) == ["FORBIDDEN"], (role, body)
    async with database.transaction() as session:
        assert (await session.scalars(sa.select(ProfileTag.tag))).all() == ["kept"]  # type: ignore[call-overload]


async def test_a_profiles_tags_are_paged(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    names = [f"tag-{n:02d}" for n in range(7)]
    for name in names:
        await tag(service_client, profile_id, name)
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    query = """
    query T($after: String) {
      me { tags(first: 3, after: $after) { items { name } pageInfo { endCursor hasNextPage } } }
    }
    """
    seen: list[str] = []
    after = None
    for _ in range(5):
        body = await gql(customer, query, {"after": after})
        page = body["data"]["me"]["tags"]
        seen.extend(t["name"] for t in page["items"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == names
    assert len(seen) == len(names)


async def pages_by_tag(client: httpx.AsyncClient, name: str, first: int) -> tuple[list[str], int]:
    """Every profile id profilesByTag gives, page by page, and how many pages it took."""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await gql(client, BY_TAG, {"tag": name, "first": first, "after": after})
        assert "errors" not in body, body
        page = body["data"]["profilesByTag"]
        pages += 1
        assert len(page["items"]) <= first
        seen.extend(p["id"] for p in page["items"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = page["pageInfo"]["endCursor"]
        assert pages < 50


async def test_services_list_profiles_by_tag_page_by_page(
    service_client: httpx.AsyncClient,
) -> None:
    profiles = [await new_profile(service_client, n) for n in range(9)]
    tagged = [p for n, p in enumerate(profiles) if n != 4]
    # Tagged out of creation order, some by another tag as well.
    for profile_id in reversed(tagged):
        await tag(service_client, profile_id, "summer-sale", "RULE")
    for profile_id in profiles[:3]:
        await tag(service_client, profile_id, "other")
    seen, pages = await pages_by_tag(service_client, "summer-sale", 3)
    assert pages == 3
    assert len(seen) == len(set(seen)) == 8, "no duplicates"
    assert set(seen) == set(tagged), "no gaps, nothing untagged"
    again, _ = await pages_by_tag(service_client, "summer-sale", 5)
    assert again == seen, "a stable order"
    everything, _ = await pages_by_tag(service_client, "summer-sale", 100)
    assert everything == seen
    assert (await pages_by_tag(service_client, "nobody-has-this", 10)) == ([], 1)


async def test_listing_by_tag_while_profiles_are_tagged_skips_and_repeats_nothing(
    service_client: httpx.AsyncClient,
) -> None:
    profiles = [await new_profile(service_client, n) for n in range(6)]
    for profile_id in profiles[:5]:
        await tag(service_client, profile_id, "live")
    body = await gql(service_client, BY_TAG, {"tag": "live", "first": 2})
    page = body["data"]["profilesByTag"]
    seen = [p["id"] for p in page["items"]]
    # A profile is tagged between pages: it shows up once, on a later page.
    await tag(service_client, profiles[5], "live")
    after = page["pageInfo"]["endCursor"]
    while after is not None:
        body = await gql(service_client, BY_TAG, {"tag": "live", "first": 2, "after": after})
        page = body["data"]["profilesByTag"]
        seen.extend(p["id"] for p in page["items"])
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert sorted(seen) == sorted(profiles)
    assert len(seen) == 6


async def test_profiles_by_tag_checks_first_and_after(service_client: httpx.AsyncClient) -> None:
    for variables in (
        {"tag": "x", "first": 0},
        {"tag": "x", "first": 101},
        {"tag": "x", "after": "bm90LWEtY3Vyc29y"},
        {"tag": "x", "after": "%%%"},
    ):
        body = await gql(service_client, BY_TAG, variables)
        assert error_codes(body) == ["BAD_USER_INPUT"], (variables, body)


async def test_only_services_list_profiles_by_tag(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id = await new_profile(service_client, 1)
    await tag(service_client, profile_id, "secret-segment")
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.ANALYST, Role.MARKETER):
        client = client_for(role, subject=profile_id if role is Role.CUSTOMER else None)
        body = await gql(client, BY_TAG, {"tag": "secret-segment"})
        assert error_codes(body) == ["FORBIDDEN"], (role, body)
        assert body["data"] == {"profilesByTag": None}
        assert profile_id not in str(body)
