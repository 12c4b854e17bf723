"""A profile merge carries points, coupons, orders, tags and the tier over: nothing lost, nothing
counted twice, sealed addresses still readable, old tokens and keys still working (both
databases)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.auth import Role
from cdp.db import Database
from cdp.loyalty.models import Coupon, PointsEntry
from cdp.orders.models import Order
from cdp.profiles.models import Profile, ProfileMerge
from cdp.tags.models import ProfileTag
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.people import MINI, OFFICIAL, count, link
from tests.support.purchases import RECORD

# The core flows run on a Citus cluster too (tests/support/citus.py).
pytestmark = pytest.mark.citus

UNION = "oUnionMergeAll000000000001"
OPEN_A = "oOffiMergeAll0000000000001"
OPEN_B = "oMiniMergeAll0000000000001"
EARN = """
mutation Earn($input: EarnPointsInput!) { earnPoints(input: $input) { id points balanceAfter } }
"""
SPEND = """
mutation Spend($input: SpendPointsInput!) { spendPoints(input: $input) { id points balanceAfter } }
"""
ADJUST = """
mutation Adjust($input: AdjustPointsInput!) { adjustPoints(input: $input) { id points } }
"""
ISSUE = """
mutation Issue($input: IssueCouponInput!) { issueCoupon(input: $input) { id title status } }
"""
REDEEM = """
mutation Redeem($input: RedeemCouponInput!) { redeemCoupon(input: $input) { id status } }
"""
TAG = """
mutation Tag($input: TagProfileInput!) { tagProfile(input: $input) { id } }
"""
EVERYTHING = """
{
  me {
    id tier unionId identities { channel openId }
    points {
      balance
      history(first: 100) { items { id kind points reason } pageInfo { hasNextPage } }
    }
    coupons(first: 100) { items { id title status } pageInfo { hasNextPage } }
    orders(first: 100) {
      items {
        id externalId channel status totalFen
        items { sku quantity unitPriceFen }
        shippingAddress { province city district street }
      }
      pageInfo { hasNextPage }
    }
    tags { items { name source taggedAt } }
  }
}
"""


def address(street: str) -> dict[str, str]:
    return {"province": "广东省", "city": "深圳市", "district": "南山区", "street": street}


@dataclass
class Holdings:
    """What one profile was given before the merge."""

    profile_id: str
    points: list[tuple[str, str, int]] = field(default_factory=list)  # (key, kind, points)
    coupons: dict[str, str] = field(default_factory=dict)  # coupon id -> status
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # external id -> order
    streets: dict[str, str] = field(default_factory=dict)  # external id -> street
    tags: list[str] = field(default_factory=list)


async def ok(client: httpx.AsyncClient, query: str, given: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, query, {"input": given})
    assert "errors" not in body, body
    [value] = body["data"].values()
    return value  # type: ignore[no-any-return]


async def give_points(
    service: httpx.AsyncClient, who: Holdings, moves: list[tuple[str, int]]
) -> None:
    for n, (kind, points) in enumerate(moves):
        key = f"{who.profile_id}:points:{n}"
        query = {"earn": EARN, "spend": SPEND, "adjust": ADJUST}[kind]
        await ok(
            service,
            query,
            {
                "profileId": who.profile_id,
                "points": points,
                "idempotencyKey": key,
                "reason": f"{kind} {n}",
                "channel": "MINI_PROGRAM",
            },
        )
        who.points.append((key, kind, points))


async def give_coupons(service: httpx.AsyncClient, who: Holdings, tag: str) -> None:
    for n, discount in enumerate((500, 1000)):
        coupon = await ok(
            service,
            ISSUE,
            {
                "profileId": who.profile_id,
                "title": f"{tag} 满减券 {n}",
                "discountFen": discount,
                "idempotencyKey": f"{who.profile_id}:coupon:{n}",
            },
        )
        who.coupons[coupon["id"]] = "AVAILABLE"
    redeemed = next(iter(who.coupons))
    assert (await ok(service, REDEEM, {"couponId": redeemed}))["status"] == "REDEEMED"
    who.coupons[redeemed] = "REDEEMED"


def order_of(
    who: Holdings, external_id: str, fen: int, days_ago: int, street: str, status: str = "PAID"
) -> dict[str, Any]:
    return {
        "profileId": who.profile_id,
        "channel": "MINI_PROGRAM",
        "externalId": external_id,
        "status": status,
        "items": [
            {"sku": f"SKU-{external_id}", "name": "商品", "quantity": 2, "unitPriceFen": fen}
        ],
        "paidAt": (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0).isoformat(),
        "entry": "from=menu&type=home",
        "shippingAddress": address(street),
    }


async def give_orders(
    service: httpx.AsyncClient, who: Holdings, orders: list[tuple[str, int, int, str]]
) -> None:
    for external_id, fen, days_ago, status in orders:
        street = f"科技园{external_id}号楼"
        given = order_of(who, external_id, fen, days_ago, street, status)
        await ok(service, RECORD, given)
        who.orders[external_id] = given
        who.streets[external_id] = street


async def give_tags(service: httpx.AsyncClient, who: Holdings, tags: list[tuple[str, str]]) -> None:
    for name, source in tags:
        await ok(service, TAG, {"profileId": who.profile_id, "tag": name, "source": source})
        who.tags.append(name)


async def everything(client: httpx.AsyncClient) -> dict[str, Any]:
    body = await gql(client, EVERYTHING)
    assert "errors" not in body, body
    return body["data"]["me"]  # type: ignore[no-any-return]


@pytest.fixture
async def two_people_then_one(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> tuple[Holdings, Holdings, dict[str, Any], dict[str, Any]]:
    """A (official account, no UnionID) and B (mini-program with UnionID), each with points,
    coupons, orders and tags; then A's OpenID arrives with B's UnionID and they merge.
    Returns A, B, and what each customer saw before the merge."""
    a = Holdings((await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, OPEN_A))["id"])
    b = Holdings((await link(service_client, "MINI_PROGRAM", MINI, OPEN_B, UNION))["id"])
    assert a.profile_id != b.profile_id

    await give_points(service_client, a, [("earn", 100), ("earn", 50), ("spend", 30)])
    await give_points(
        service_client, b, [("earn", 200), ("spend", 70), ("adjust", 5), ("earn", 15)]
    )
    await give_coupons(service_client, a, "A")
    await give_coupons(service_client, b, "B")
    # Alone each is STANDARD (60,000 and 50,000 fen paid); together they are VIP.
    await give_orders(
        service_client,
        a,
        [
            ("A-1", 20_000, 10, "PAID"),
            ("A-2", 10_000, 40, "COMPLETED"),
            ("A-3", 90_000, 5, "REFUNDED"),
        ],
    )
    await give_orders(
        service_client,
        b,
        [
            ("B-1", 15_000, 3, "SHIPPED"),
            ("B-2", 10_000, 20, "PAID"),
            ("B-OLD", 400_000, 400, "PAID"),
        ],
    )
    # B tags "shared" first, so B's tagging is the earlier one.
    await give_tags(service_client, b, [("shared", "IMPORT"), ("only-b", "RULE")])
    await give_tags(service_client, a, [("shared", "MANUAL"), ("only-a", "MANUAL")])

    before_a = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    before_b = await everything(client_for(Role.CUSTOMER, subject=b.profile_id))
    assert (before_a["tier"], before_b["tier"]) == ("STANDARD", "STANDARD")
    assert await count(database, Profile) == 2

    merged = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, OPEN_A, UNION)
    assert merged["id"] == a.profile_id, "the older profile survives"
    return a, b, before_a, before_b


Merged = tuple[Holdings, Holdings, dict[str, Any], dict[str, Any]]


async def test_after_the_merge_there_is_one_profile_with_both_identities(
    two_people_then_one: Merged, client_for: ClientFactory, database: Database
) -> None:
    a, _, _, _ = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert await count(database, Profile) == 1
    assert me["id"] == a.profile_id
    assert me["unionId"] == UNION
    assert sorted(i["openId"] for i in me["identities"]) == sorted([OPEN_A, OPEN_B])


async def test_points_add_up_and_the_ledger_is_the_union_of_both(
    two_people_then_one: Merged, client_for: ClientFactory, database: Database
) -> None:
    a, b, before_a, before_b = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert before_a["points"]["balance"] == 120
    assert before_b["points"]["balance"] == 150
    assert me["points"]["balance"] == 270
    history = me["points"]["history"]["items"]
    assert me["points"]["history"]["pageInfo"]["hasNextPage"] is False
    assert sorted(e["id"] for e in history) == sorted(
        e["id"]
        for e in before_a["points"]["history"]["items"] + before_b["points"]["history"]["items"]
    )
    assert len(history) == len(a.points) + len(b.points) == 7
    given = [-p if kind == "spend" else p for _, kind, p in a.points + b.points]
    assert sorted(e["points"] for e in history) == sorted(given)
    assert sum(e["points"] for e in history) == 270
    assert await count(database, PointsEntry) == 7
    async with database.transaction() as session:
        total = await session.scalar(sa.select(sa.func.sum(col(PointsEntry.points))))
    assert total == 270


async def test_the_merged_balance_can_be_spent_to_zero_and_no_further(
    two_people_then_one: Merged, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    a, b, _, _ = two_people_then_one
    spend = {"profileId": b.profile_id, "points": 270, "idempotencyKey": "after-merge-spend"}
    entry = await ok(service_client, SPEND, spend)
    assert entry["balanceAfter"] == 0
    body = await gql(
        service_client,
        SPEND,
        {"input": {"profileId": a.profile_id, "points": 1, "idempotencyKey": "one-more"}},
    )
    assert error_codes(body) == ["CONFLICT"]
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert me["points"]["balance"] == 0
    assert sum(e["points"] for e in me["points"]["history"]["items"]) == 0


async def test_coupons_are_the_union_of_both_and_a_redeemed_one_stays_redeemed(
    two_people_then_one: Merged,
    client_for: ClientFactory,
    service_client: httpx.AsyncClient,
    database: Database,
) -> None:
    a, b, _, _ = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert me["coupons"]["pageInfo"]["hasNextPage"] is False
    assert {c["id"]: c["status"] for c in me["coupons"]["items"]} == {**a.coupons, **b.coupons}
    assert len(me["coupons"]["items"]) == 4
    assert await count(database, Coupon) == 4
    used = next(cid for cid, status in b.coupons.items() if status == "REDEEMED")
    body = await gql(service_client, REDEEM, {"input": {"couponId": used}})
    assert error_codes(body) == ["CONFLICT"]


async def test_orders_are_the_union_of_both_and_their_addresses_still_open_for_the_customer(
    two_people_then_one: Merged, client_for: ClientFactory, database: Database
) -> None:
    a, b, _, _ = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    orders = {o["externalId"]: o for o in me["orders"]["items"]}
    assert me["orders"]["pageInfo"]["hasNextPage"] is False
    assert sorted(orders) == sorted([*a.orders, *b.orders])
    assert await count(database, Order) == 6
    for external_id, street in {**a.streets, **b.streets}.items():
        assert orders[external_id]["shippingAddress"] == address(street), external_id
    assert orders["B-1"]["status"] == "SHIPPED"
    assert orders["B-1"]["totalFen"] == 30_000


async def test_support_sees_the_merged_orders_masked(
    two_people_then_one: Merged, client_for: ClientFactory
) -> None:
    a, _, _, _ = two_people_then_one
    query = """
    query S($id: ID!) {
      profile(id: $id, purpose: "merge ticket") {
        orders(first: 100) {
          items { externalId shippingAddress { province city district street } }
        }
      }
    }
    """
    body = await gql(client_for(Role.SUPPORT), query, {"id": a.profile_id})
    assert "errors" not in body, body
    items = body["data"]["profile"]["orders"]["items"]
    assert len(items) == 6
    for order in items:
        assert order["shippingAddress"] == {
            "province": "广东省",
            "city": "深圳市",
            "district": None,
            "street": None,
        }


async def test_tags_are_the_union_with_the_shared_tag_once_and_its_earlier_tagging(
    two_people_then_one: Merged,
    client_for: ClientFactory,
    service_client: httpx.AsyncClient,
    database: Database,
) -> None:
    a, _, before_a, before_b = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    tags = {t["name"]: t for t in me["tags"]["items"]}
    assert len(me["tags"]["items"]) == 3
    assert sorted(tags) == ["only-a", "only-b", "shared"]
    assert await count(database, ProfileTag) == 3
    b_shared = next(t for t in before_b["tags"]["items"] if t["name"] == "shared")
    a_shared = next(t for t in before_a["tags"]["items"] if t["name"] == "shared")
    assert datetime.fromisoformat(b_shared["taggedAt"]) < datetime.fromisoformat(
        a_shared["taggedAt"]
    )
    assert tags["shared"] == b_shared, "the earlier tagging is kept"
    body = await gql(service_client, '{ profilesByTag(tag: "shared") { items { id } } }')
    assert body["data"]["profilesByTag"]["items"] == [{"id": a.profile_id}]


async def test_the_tier_is_recomputed_from_the_combined_spend(
    two_people_then_one: Merged, client_for: ClientFactory
) -> None:
    a, _, _, _ = two_people_then_one
    me = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    # 40,000 + 20,000 (A) + 30,000 + 20,000 (B) = 110,000 fen: refunded and old orders aside.
    assert me["tier"] == "VIP"


async def test_the_merge_record_counts_what_moved(
    two_people_then_one: Merged, database: Database
) -> None:
    _, b, _, _ = two_people_then_one
    async with database.transaction() as session:
        record = (await session.scalars(sa.select(ProfileMerge))).one()
    assert record.loser_public_id == b.profile_id
    expected = {
        "identities": 1,
        # The identity's OpenID (alone and in its app), the coupons' and entries' keys.
        "profile_keys": 2 + len(b.points) + len(b.coupons),
        "data_keys": 1,
        "points": len(b.points),
        "coupons": len(b.coupons),
        "orders": len(b.orders),
        # only-b moves; B's "shared" folds into A's, keeping the earlier tagging.
        "profile_tags": 1,
    }
    assert {name: record.moved.get(name) for name in expected} == expected
    # B's orders noted their status for activation: those events move with B's orders.
    assert record.moved["outbox"] >= len(b.orders)
    # Steps of other domains (consents, events, ...) had nothing of B's to move.
    others = record.moved.keys() - expected.keys() - {"outbox"}
    assert all(record.moved[name] == 0 for name in others)


async def test_the_merged_away_customer_token_reaches_the_survivor(
    two_people_then_one: Merged, client_for: ClientFactory
) -> None:
    a, b, _, _ = two_people_then_one
    via_b = await everything(client_for(Role.CUSTOMER, subject=b.profile_id))
    via_a = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert via_b["id"] == a.profile_id
    assert via_b == via_a


async def test_replays_after_the_merge_change_nothing(
    two_people_then_one: Merged,
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
) -> None:
    a, b, _, _ = two_people_then_one
    before = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    # The loser's own calls again, naming the loser: same entries, coupons and orders.
    for who in (a, b):
        for key, kind, points in who.points:
            query = {"earn": EARN, "spend": SPEND, "adjust": ADJUST}[kind]
            given = {"profileId": who.profile_id, "points": points, "idempotencyKey": key}
            body = await gql(service_client, query, {"input": given})
            assert "errors" not in body, (key, body)
        for n, coupon_id in enumerate(who.coupons):
            title = f"{'A' if who is a else 'B'} 满减券 {n}"
            issued = await ok(
                service_client,
                ISSUE,
                {
                    "profileId": who.profile_id,
                    "title": title,
                    "discountFen": (500, 1000)[n],
                    "idempotencyKey": f"{who.profile_id}:coupon:{n}",
                },
            )
            assert issued["id"] == coupon_id
        for given in who.orders.values():
            await ok(service_client, RECORD, given)
        for name in who.tags:
            await ok(service_client, TAG, {"profileId": who.profile_id, "tag": name})
    after = await everything(client_for(Role.CUSTOMER, subject=a.profile_id))
    assert after == before
    assert await count(database, PointsEntry) == 7
    assert await count(database, Coupon) == 4
    assert await count(database, Order) == 6
    assert await count(database, ProfileTag) == 3


async def test_writes_racing_a_merge_land_on_the_survivor(
    client_for: ClientFactory, database: Database
) -> None:
    lost: list[str] = []
    refused: list[str] = []
    for round_ in range(2):
        open_a, open_b, union = (f"oRace{who}{round_:020d}" for who in ("A", "B", "U"))
        survivor = (await link(client_for(Role.SERVICE), "OFFICIAL_ACCOUNT", OFFICIAL, open_a))[
            "id"
        ]
        loser = (await link(client_for(Role.SERVICE), "MINI_PROGRAM", MINI, open_b, union))["id"]
        calls: list[tuple[str, str, dict[str, Any]]] = []
        for n in range(6):
            key = f"race-{round_}-{n}"
            calls += [
                ("points", EARN, {"profileId": loser, "points": 10, "idempotencyKey": key}),
                (
                    "coupons",
                    ISSUE,
                    {"profileId": loser, "title": "券", "discountFen": 100, "idempotencyKey": key},
                ),
                ("tags", TAG, {"profileId": loser, "tag": key}),
                (
                    "orders",
                    RECORD,
                    {
                        "profileId": loser,
                        "channel": "WEB",
                        "externalId": key,
                        "status": "PAID",
                        "items": [{"sku": "S", "name": "商品", "quantity": 1, "unitPriceFen": 100}],
                    },
                ),
            ]
        # Each call on its own client: its own connection and transaction.
        results = await asyncio.gather(
            *[gql(client_for(Role.SERVICE), query, {"input": given}) for _, query, given in calls],
            link(client_for(Role.SERVICE), "OFFICIAL_ACCOUNT", OFFICIAL, open_a, union),
        )
        acknowledged = Counter(
            kind
            for (kind, _, _), body in zip(calls, results[:-1], strict=True)
            if "errors" not in body
        )
        refused += [
            f"{kind}: {body['errors'][0]['extensions']['code']} {body['errors'][0]['message']}"
            for (kind, _, _), body in zip(calls, results[:-1], strict=True)
            if "errors" in body
        ]
        me = await everything(client_for(Role.CUSTOMER, subject=survivor))
        assert me["id"] == survivor
        seen = {
            "points": me["points"]["balance"] // 10,
            "coupons": len(me["coupons"]["items"]),
            "tags": len(me["tags"]["items"]),
            "orders": len(me["orders"]["items"]),
        }
        lost += [
            f"round {round_}: {kind} {acknowledged[kind]} acknowledged, {seen[kind]} kept"
            for kind in seen
            if seen[kind] != acknowledged[kind]
        ]
    assert lost == [], lost
    assert refused == [], refused
