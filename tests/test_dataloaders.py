"""DataLoaders: the SQL statements behind `me` (and a page of profiles) do not grow with the
number of orders, coupons, ledger entries and tags (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event

from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.db import Database
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.loyalty.coupons import issue_coupon, redeem_coupon
from cdp.loyalty.models import EntryKind
from cdp.loyalty.points import record_entry
from cdp.orders.models import OrderStatus
from cdp.orders.service import LineItem, OrderInput, record_order
from cdp.orders.tiers import TierThresholds
from cdp.profiles import service as profiles
from cdp.profiles.values import PostalAddress
from cdp.tags.models import TagSource
from cdp.tags.service import tag_profile
from tests.conftest import ClientFactory, audited, gql
from tests.support.people import MINI, OFFICIAL, link

ACTOR = Principal(subject="dataloader-seed", role=Role.SERVICE)
ME = """
{
  me {
    id tier phone name address { province city district street }
    identities { channel appId openId linkedAt }
    points {
      balance
      history(first: 100) {
        items { id kind points balanceAfter reason channel createdAt expiresAt }
        pageInfo { hasNextPage endCursor }
      }
    }
    coupons(first: 100) {
      items { id title kind discountFen status validFrom validUntil redeemedAt }
      pageInfo { hasNextPage endCursor }
    }
    orders(first: 100) {
      items {
        id channel externalId status itemsFen discountFen shippingFen totalFen
        entryFrom entryParams paidAt
        items { sku name quantity unitPriceFen amountFen }
        shippingAddress { province city district street }
      }
      pageInfo { hasNextPage endCursor }
    }
    tags { items { name source taggedAt } }
  }
}
"""
BY_TAG = """
query ByTag($first: Int!) {
  profilesByTag(tag: "cohort", first: $first) {
    items {
      id tier identities { channel appId linkedAt }
      points { balance history(first: 100) { items { id points } } }
      coupons(first: 100) { items { id status } }
      orders(first: 100) { items { id totalFen items { sku quantity } } }
      tags { items { name } }
    }
  }
}
"""
# The same page with the sealed identifiers, which each profile's own data key opens.
BY_TAG_IDENTIFIERS = BY_TAG.replace("id tier identities {", "id tier unionId identities { openId")


async def seed(
    database: Database,
    vault: Vault,
    public_id: str,
    *,
    orders: int,
    coupons: int,
    entries: int,
    tags: int,
    personal: bool = True,
) -> None:
    """Give a profile its personal fields and that many orders (with shipping addresses),
    coupons (every other one redeemed), ledger entries (every fifth a spend) and tags."""
    now = datetime.now(UTC)
    tiers = TierThresholds.of(database.settings)
    async with audited(database) as session:
        profile = await profiles.get_profile(session=session, public_id=public_id)
        assert profile is not None
        if personal:
            await profiles.update_personal_fields(
                session=session,
                vault=vault,
                profile=profile,
                phone="13800138000",
                name="赵钱孙",
                address=PostalAddress("浙江省", "杭州市", "西湖区", "文三路 1 号"),
            )
        for n in range(orders):
            await record_order(
                session=session,
                vault=vault,
                profile=profile,
                order=OrderInput(
                    channel=(Channel.MINI_PROGRAM, Channel.WEB)[n % 2],
                    external_id=f"{public_id[:8]}-order-{n}",
                    status=(OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.REFUNDED)[n % 3],
                    items=[
                        LineItem(f"SKU-{n}", f"商品 {n}", 1 + n % 3, 1000 + n),
                        LineItem("GIFT", "赠品", 1, 0),
                    ],
                    discount_fen=n % 50,
                    shipping_fen=600,
                    paid_at=now - timedelta(hours=n + 1),
                    entry=f"from=article&id={n}",
                    shipping_address=PostalAddress(
                        "上海市", "上海市", "徐汇区", f"漕溪北路 {n} 号"
                    ),
                ),
                tiers=tiers,
            )
        for n in range(entries):
            spend = n % 5 == 4
            await record_entry(
                session=session,
                profile=profile,
                kind=EntryKind.SPEND if spend else EntryKind.EARN,
                points=-5 if spend else 20,
                idempotency_key=f"{public_id}:points:{n}",
                reason="seed",
                channel=Channel.MINI_PROGRAM,
                lifetime=timedelta(days=365),
            )
        for n in range(coupons):
            coupon = await issue_coupon(
                session=session,
                profile=profile,
                title=f"满减券 {n}",
                discount_fen=100 + n,
                idempotency_key=f"{public_id}:coupon:{n}",
                valid_until=now + timedelta(days=30),
            )
            if n % 2:
                await redeem_coupon(session=session, coupon_id=coupon.public_id)
        for n in range(tags):
            source = (TagSource.MANUAL, TagSource.RULE, TagSource.IMPORT)[n % 3]
            await tag_profile(
                session=session, actor=ACTOR, profile=profile, tag=f"tag-{n}", source=source
            )


@contextmanager
def counting_statements(database: Database | KeyStore) -> Iterator[list[str]]:
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)


async def statements_for(
    database: Database | KeyStore,
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    with counting_statements(database) as statements:
        body = await gql(client, query, variables)
    assert "errors" not in body, body
    return statements, body["data"]


def listing(statements: list[str]) -> str:
    return "\n".join(f"  {n:3}: {' '.join(s.split())[:150]}" for n, s in enumerate(statements))


async def test_me_costs_the_same_statements_with_a_hundred_orders_as_with_one(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database, vault: Vault
) -> None:
    small = (await link(service_client, "MINI_PROGRAM", MINI, "oLoaderSmall000000000001"))["id"]
    big = (await link(service_client, "MINI_PROGRAM", MINI, "oLoaderBig00000000000001", "uB1"))[
        "id"
    ]
    await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oLoaderBigOffi0000000001", "uB1")
    await seed(database, vault, small, orders=1, coupons=1, entries=1, tags=1)
    await seed(database, vault, big, orders=100, coupons=20, entries=50, tags=10)
    small_client = client_for(Role.CUSTOMER, subject=small)
    big_client = client_for(Role.CUSTOMER, subject=big)
    for client in (small_client, big_client):  # warm up
        await gql(client, ME)

    one, small_data = await statements_for(database, small_client, ME)
    many, big_data = await statements_for(database, big_client, ME)

    me = big_data["me"]
    assert len(me["orders"]["items"]) == 100
    assert len(me["coupons"]["items"]) == 20
    assert len(me["points"]["history"]["items"]) == 50
    assert len(me["tags"]["items"]) == 10
    assert len(me["identities"]) == 2
    assert all(len(o["items"]) == 2 for o in me["orders"]["items"])
    assert {o["shippingAddress"]["street"] for o in me["orders"]["items"]} == {
        f"漕溪北路 {n} 号" for n in range(100)
    }
    assert me["address"]["street"] == "文三路 1 号"
    assert len(small_data["me"]["orders"]["items"]) == 1
    print(f"`me` statements: {len(one)} with one of each, {len(many)} with many")
    assert len(one) == len(many), (
        f"`me` ran {len(one)} statements with one of each and {len(many)} with "
        f"100 orders, 20 coupons, 50 ledger entries and 10 tags\n"
        f"one of each:\n{listing(one)}\nmany:\n{listing(many)}"
    )


async def tagged_cohort(
    service_client: httpx.AsyncClient, database: Database, vault: Vault
) -> list[str]:
    ids = [
        (await link(service_client, "MINI_PROGRAM", MINI, f"oLoaderPage{n:014d}", f"uPage{n}"))[
            "id"
        ]
        for n in range(20)
    ]
    for public_id in ids:
        await seed(
            database, vault, public_id, orders=3, coupons=2, entries=3, tags=2, personal=False
        )
        async with audited(database) as session:
            profile = await profiles.get_profile(session=session, public_id=public_id)
            assert profile is not None
            await tag_profile(
                session=session, actor=ACTOR, profile=profile, tag="cohort", source=TagSource.RULE
            )
    return ids


async def page_costs(
    service_client: httpx.AsyncClient, database: Database, query: str
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Statements for a page of 2 and a page of 20 tagged profiles, and the page of 20."""
    for first in (2, 20):  # warm up
        await gql(service_client, query, {"first": first})
    two, two_data = await statements_for(database, service_client, query, {"first": 2})
    twenty, twenty_data = await statements_for(database, service_client, query, {"first": 20})
    assert len(two_data["profilesByTag"]["items"]) == 2
    return two, twenty, twenty_data["profilesByTag"]["items"]


async def test_a_page_of_profiles_costs_the_same_statements_for_two_as_for_twenty(
    service_client: httpx.AsyncClient, database: Database, vault: Vault
) -> None:
    await tagged_cohort(service_client, database, vault)
    two, twenty, page = await page_costs(service_client, database, BY_TAG)

    assert len(page) == 20
    assert all(len(p["orders"]["items"]) == 3 and len(p["tags"]["items"]) == 3 for p in page)
    assert len(two) == len(twenty), (
        f"profilesByTag ran {len(two)} statements for 2 profiles and {len(twenty)} for 20\n"
        f"two:\n{listing(two)}\ntwenty:\n{listing(twenty)}"
    )


async def test_a_page_of_profiles_with_sealed_identifiers_costs_the_same_for_two_as_for_twenty(
    service_client: httpx.AsyncClient, database: Database, vault: Vault
) -> None:
    await tagged_cohort(service_client, database, vault)
    two, twenty, page = await page_costs(service_client, database, BY_TAG_IDENTIFIERS)
    assert len(page) == 20
    assert all(p["unionId"] and p["identities"][0]["openId"] for p in page)
    assert len(two) == len(twenty), (
        f"profilesByTag ran {len(two)} statements for 2 profiles and {len(twenty)} for 20\n"
        f"two:\n{listing(two)}\ntwenty:\n{listing(twenty)}"
    )


async def test_a_profiles_sealed_fields_unwrap_its_keys_once_and_only_when_asked_for(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
    vault: Vault,
) -> None:
    person = await link(service_client, "MINI_PROGRAM", MINI, "oLoaderKeys0000000000001", "uK1")
    await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oLoaderKeysOffi000000001", "uK1")
    await seed(database, vault, person["id"], orders=3, coupons=1, entries=1, tags=1)
    customer = client_for(Role.CUSTOMER, subject=person["id"])

    def key_reads(statements: list[str]) -> int:
        return sum("FROM data_keys" in " ".join(s.split()) for s in statements)

    everything, data = await statements_for(keystore, customer, ME)
    assert data["me"]["address"]["street"] == "文三路 1 号"
    assert {i["openId"] for i in data["me"]["identities"]} == {
        "oLoaderKeys0000000000001",
        "oLoaderKeysOffi000000001",
    }
    assert key_reads(everything) == 1, listing(everything)
    fragment = "{ me { ...P } } fragment P on Profile { id phone }"
    through_fragment, data = await statements_for(keystore, customer, fragment)
    assert key_reads(through_fragment) == 1, listing(through_fragment)
    nothing_sealed, _ = await statements_for(
        keystore, customer, "{ me { id tier orders(first: 5) { items { id totalFen } } } }"
    )
    assert key_reads(nothing_sealed) == 0, listing(nothing_sealed)
