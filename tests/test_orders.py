"""recordOrder: line items and fen, entry parameters, idempotent replays, status moves, bad
input, the sealed and masked shipping address, and the audit trail (both databases)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.orders.models import Order, OrderItem
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.people import count
from tests.support.purchases import (
    ADDRESS,
    CANARY_DISTRICT,
    CANARY_STREET,
    ORDER_FIELDS,
    RECORD,
    new_customer,
    order_input,
)
from tests.support.raw_bytes import raw_sqlite_bytes, stored_postgres_values

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
MY_ORDERS = f"""
query Mine($first: Int! = 20, $after: String) {{
  me {{
    orders(first: $first, after: $after) {{
      items {{ {ORDER_FIELDS} shippingAddress {{ province city district street }} }}
      pageInfo {{ endCursor hasNextPage }}
    }}
  }}
}}
"""
STAFF_ORDERS = """
query Staff($id: ID!) {
  profile(id: $id, purpose: "order ticket 42") {
    orders {
      items {
        externalId totalFen itemsFen discountFen shippingFen status
        items { sku name quantity unitPriceFen amountFen }
        shippingAddress { province city district street }
      }
    }
  }
}
"""
PAID_AT_UTC = "2024-05-01T02:30:00+00:00"


async def record(client: httpx.AsyncClient, given: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, RECORD, {"input": given})
    assert "errors" not in body, body
    return body["data"]["recordOrder"]  # type: ignore[no-any-return]


async def recorded(client: httpx.AsyncClient, given: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """recordOrder's body and the request id the server gave it."""
    response = await client.post("/graphql", json={"query": RECORD, "variables": {"input": given}})
    assert response.status_code == 200, response.text
    return response.json(), response.headers["x-request-id"]


async def my_orders(customer: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    body = await gql(customer, MY_ORDERS, variables)
    assert "errors" not in body, body
    return body["data"]["me"]["orders"]  # type: ignore[no-any-return]


async def stored_orders(database: Database) -> list[tuple[Any, ...]]:
    async with database.transaction() as session:
        rows = await session.execute(
            sa.select(
                col(Order.id),
                col(Order.public_id),
                col(Order.channel),
                col(Order.external_id),
                col(Order.status),
                col(Order.total_fen),
                col(Order.updated_at),
            ).order_by(col(Order.id))
        )
        return [tuple(row) for row in rows]


def same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


def comparable(order: dict[str, Any]) -> dict[str, Any]:
    """An order as returned, with its times as instants (the offset they are written in aside)."""
    return {
        key: datetime.fromisoformat(value) if key in ("paidAt", "updatedAt") else value
        for key, value in order.items()
        if key != "shippingAddress"
    }


def same_order(*orders: dict[str, Any]) -> bool:
    return all(comparable(o) == comparable(orders[0]) for o in orders)


# --- recording and reading back ----------------------------------------------------------------


@CITUS
async def test_an_order_is_recorded_with_items_amounts_entry_and_channel(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    order = await record(service_client, order_input(profile_id))
    expected_items = [
        {
            "sku": "TEA-001",
            "name": "西湖龙井 250g",
            "quantity": 2,
            "unitPriceFen": 1999,
            "amountFen": 3998,
        },
        {
            "sku": "CUP-007",
            "name": "青瓷茶杯",
            "quantity": 1,
            "unitPriceFen": 5000,
            "amountFen": 5000,
        },
    ]
    assert order["channel"] == "MINI_PROGRAM"
    assert order["externalId"] == "WX-1001"
    assert order["status"] == "PAID"
    assert order["itemsFen"] == 8998
    assert order["discountFen"] == 1000
    assert order["shippingFen"] == 800
    assert order["totalFen"] == 8998 - 1000 + 800
    assert order["entryFrom"] == "article"
    assert order["entryParams"] == {"id": "123"}
    assert same_instant(order["paidAt"], PAID_AT_UTC)
    assert order["items"] == expected_items

    page = await my_orders(customer)
    assert page["pageInfo"]["hasNextPage"] is False
    [mine] = page["items"]
    assert same_order(mine, order)
    assert mine["shippingAddress"] == ADDRESS


async def test_a_menu_link_and_no_link_give_their_entry_parameters(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    menu = await record(
        service_client,
        order_input(profile_id, "WX-menu", entry="from=menu&type=home", channel="OFFICIAL_ACCOUNT"),
    )
    assert (menu["entryFrom"], menu["entryParams"], menu["channel"]) == (
        "menu",
        {"type": "home"},
        "OFFICIAL_ACCOUNT",
    )
    direct = await record(service_client, order_input(profile_id, "WX-direct", entry=None))
    assert (direct["entryFrom"], direct["entryParams"]) == (None, {})
    video = await record(
        service_client, order_input(profile_id, "CH-1", channel="CHANNELS", entry="id=9&from=live")
    )
    assert (video["entryFrom"], video["entryParams"]) == ("live", {"id": "9"})


async def test_an_order_without_paid_at_is_paid_now_and_without_address_has_none(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    before = datetime.now(UTC)
    order = await record(
        service_client, order_input(profile_id, paidAt=None, shippingAddress=None, channel="WEB")
    )
    paid = datetime.fromisoformat(order["paidAt"])
    assert before - timedelta(seconds=5) <= paid <= datetime.now(UTC) + timedelta(seconds=5)
    [mine] = (await my_orders(customer))["items"]
    assert mine["shippingAddress"] is None
    assert mine["channel"] == "WEB"


async def test_orders_are_listed_newest_paid_first_and_paged_two_at_a_time(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    base = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    # Recorded out of order; two share one payment time.
    days_ago = {"o3": 3, "o1": 1, "o5": 5, "o2": 2, "o4": 4, "o2b": 2}
    for external_id, days in days_ago.items():
        await record(
            service_client,
            order_input(profile_id, external_id, paidAt=(base - timedelta(days=days)).isoformat()),
        )
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await my_orders(customer, first=2, after=after)
        pages += 1
        assert 1 <= len(page["items"]) <= 2
        seen.extend(o["externalId"] for o in page["items"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted(days_ago), "no order missing or repeated"
    paid = [days_ago[e] for e in seen]
    assert paid == sorted(paid), "newest payment first"
    everything = await my_orders(customer, first=100)
    assert [o["externalId"] for o in everything["items"]] == seen, "pages agree with one list"


async def test_orders_can_be_filtered_by_status(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    for n, status in enumerate(["PAID", "SHIPPED", "REFUNDED", "PAID"]):
        await record(service_client, order_input(profile_id, f"F-{n}", status=status))
    query = "query S($s: OrderStatus) { me { orders(status: $s) { items { externalId } } } }"
    found = {}
    for status in ("PAID", "SHIPPED", "COMPLETED", "REFUNDED"):
        body = await gql(customer, query, {"s": status})
        found[status] = sorted(o["externalId"] for o in body["data"]["me"]["orders"]["items"])
    assert found == {
        "PAID": ["F-0", "F-3"],
        "SHIPPED": ["F-1"],
        "COMPLETED": [],
        "REFUNDED": ["F-2"],
    }


async def test_the_first_argument_is_limited_to_one_hundred(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    _, customer = await new_customer(service_client, client_for)
    for first in (0, 101):
        body = await gql(customer, MY_ORDERS, {"first": first})
        assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(customer, MY_ORDERS, {"after": "not-a-cursor"})
    assert error_codes(body) == ["BAD_USER_INPUT"]


# --- idempotency -------------------------------------------------------------------------------


async def test_a_replay_answers_exactly_as_the_first_call_did(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    first = await record(service_client, order_input(profile_id))
    again = await record(service_client, order_input(profile_id))
    [mine] = (await my_orders(customer))["items"]
    assert first["paidAt"] == again["paidAt"] == mine["paidAt"]
    assert first == again


async def test_a_replayed_order_changes_nothing(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    first = await record(service_client, order_input(profile_id))
    stored = await stored_orders(database)
    again = await record(service_client, order_input(profile_id))
    # The same instant written in UTC, and the same link with its parameters reordered.
    same = await record(
        service_client,
        order_input(profile_id, paidAt=PAID_AT_UTC, entry="id=123&from=article"),
    )
    assert same_order(first, again, same)
    assert await stored_orders(database) == stored
    assert len(stored) == 1
    assert await count(database, OrderItem) == 2
    assert len((await my_orders(customer))["items"]) == 1


@CITUS
async def test_parallel_replays_of_one_order_record_it_once(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    # Each call on its own client, so each runs in its own transaction.
    results = await asyncio.gather(
        *[record(client_for(Role.SERVICE), order_input(profile_id)) for _ in range(8)]
    )
    assert len({r["id"] for r in results}) == 1
    assert await count(database, Order) == 1
    assert await count(database, OrderItem) == 2
    assert len((await my_orders(customer))["items"]) == 1


async def test_a_replay_with_another_shipping_address_leaves_the_first_one(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    other = {"province": "北京市", "city": "北京市", "district": "朝阳区", "street": "建国路1号"}
    body = await gql(
        service_client, RECORD, {"input": order_input(profile_id, shippingAddress=other)}
    )
    assert error_codes(body) in ([], ["CONFLICT"])
    [mine] = (await my_orders(customer))["items"]
    assert mine["shippingAddress"] == ADDRESS


async def test_the_same_external_id_in_another_channel_is_another_order(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    mini = await record(service_client, order_input(profile_id, "SHARED-7"))
    web = await record(service_client, order_input(profile_id, "SHARED-7", channel="WEB"))
    assert mini["id"] != web["id"]
    assert await count(database, Order) == 2
    assert await count(database, OrderItem) == 4
    assert {o["channel"] for o in (await my_orders(customer))["items"]} == {"MINI_PROGRAM", "WEB"}


def _change_items(given: dict[str, Any]) -> None:
    given["items"][0]["quantity"] = 3


def _change_price(given: dict[str, Any]) -> None:
    given["items"][1]["unitPriceFen"] = 4999


def _drop_item(given: dict[str, Any]) -> None:
    given["items"] = given["items"][:1]


def _change_sku(given: dict[str, Any]) -> None:
    given["items"][0]["sku"] = "TEA-002"


def _change_discount(given: dict[str, Any]) -> None:
    given["discountFen"] = 900


def _change_shipping(given: dict[str, Any]) -> None:
    given["shippingFen"] = 0


def _change_paid_at(given: dict[str, Any]) -> None:
    given["paidAt"] = "2024-05-02T10:30:00+08:00"


def _change_entry(given: dict[str, Any]) -> None:
    given["entry"] = "from=menu&type=home"


@pytest.mark.parametrize(
    "change",
    [
        _change_items,
        _change_price,
        _drop_item,
        _change_sku,
        _change_discount,
        _change_shipping,
        _change_paid_at,
        _change_entry,
    ],
)
async def test_a_replay_with_different_terms_is_a_conflict_and_changes_nothing(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    change: Callable[[dict[str, Any]], None],
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    original = order_input(profile_id)
    first = await record(service_client, original)
    stored = await stored_orders(database)
    changed = copy.deepcopy(original)
    change(changed)
    body = await gql(service_client, RECORD, {"input": changed})
    assert error_codes(body) == ["CONFLICT"]
    assert body["data"] == {"recordOrder": None}
    assert await stored_orders(database) == stored
    assert await count(database, OrderItem) == 2
    [mine] = (await my_orders(customer))["items"]
    assert mine["items"] == first["items"]
    assert mine["totalFen"] == first["totalFen"]


@CITUS
async def test_a_replay_for_another_person_is_a_conflict(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    alice, alice_client = await new_customer(service_client, client_for, 1)
    bob, bob_client = await new_customer(service_client, client_for, 2)
    await record(service_client, order_input(alice))
    stored = await stored_orders(database)
    body = await gql(service_client, RECORD, {"input": order_input(bob)})
    assert error_codes(body) == ["CONFLICT"]
    assert await stored_orders(database) == stored
    assert len((await my_orders(alice_client))["items"]) == 1
    assert (await my_orders(bob_client))["items"] == []


async def test_an_order_for_an_unknown_profile_is_not_found(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    body = await gql(
        service_client, RECORD, {"input": order_input("00000000-0000-0000-0000-000000000000")}
    )
    assert error_codes(body) == ["NOT_FOUND"]
    assert await count(database, Order) == 0


# --- status ------------------------------------------------------------------------------------


@CITUS
async def test_an_order_moves_from_paid_to_shipped_to_completed_to_refunded(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    first = await record(service_client, order_input(profile_id))
    for status in ("SHIPPED", "COMPLETED", "REFUNDED"):
        moved = await record(service_client, order_input(profile_id, status=status))
        assert moved["status"] == status
        assert moved["id"] == first["id"]
        [mine] = (await my_orders(customer))["items"]
        assert mine["status"] == status
    assert await count(database, Order) == 1
    assert await count(database, OrderItem) == 2


@pytest.mark.parametrize("status", ["SHIPPED", "COMPLETED", "REFUNDED"])
async def test_a_paid_order_may_go_straight_to_any_later_status(
    service_client: httpx.AsyncClient, client_for: ClientFactory, status: str
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    assert (await record(service_client, order_input(profile_id, status=status)))[
        "status"
    ] == status


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["PAID", "REFUNDED"], "PAID"),
        (["PAID", "REFUNDED"], "SHIPPED"),
        (["PAID", "REFUNDED"], "COMPLETED"),
        (["PAID", "SHIPPED"], "PAID"),
        (["PAID", "SHIPPED", "COMPLETED"], "SHIPPED"),
        (["PAID", "SHIPPED", "COMPLETED"], "PAID"),
        (["COMPLETED"], "PAID"),
    ],
)
async def test_a_status_cannot_go_backwards_or_out_of_refunded(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    path: list[str],
    refused: str,
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    for status in path:
        await record(service_client, order_input(profile_id, status=status))
    stored = await stored_orders(database)
    body = await gql(service_client, RECORD, {"input": order_input(profile_id, status=refused)})
    assert error_codes(body) == ["CONFLICT"]
    assert await stored_orders(database) == stored
    [mine] = (await my_orders(customer))["items"]
    assert mine["status"] == path[-1]


async def test_replaying_the_current_status_is_not_a_transition(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    await record(service_client, order_input(profile_id, status="REFUNDED"))
    stored = await stored_orders(database)
    again = await record(service_client, order_input(profile_id, status="REFUNDED"))
    assert again["status"] == "REFUNDED"
    assert await stored_orders(database) == stored


# --- bad input ---------------------------------------------------------------------------------


def _set(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(given: dict[str, Any]) -> None:
        given.update(changes)

    return apply


def _item(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(given: dict[str, Any]) -> None:
        given["items"][index].update(changes)

    return apply


FAR_FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set(items=[]), "items"),
        (_item(0, quantity=0), "items.0.quantity"),
        (_item(1, quantity=-1), "items.1.quantity"),
        (_item(0, quantity=10_001), "items.0.quantity"),
        (_item(1, unitPriceFen=-1), "items.1.unitPriceFen"),
        (_item(0, sku="  "), "items.0.sku"),
        (_item(0, name=""), "items.0.name"),
        (_set(discountFen=-1), "discountFen"),
        (_set(shippingFen=-5), "shippingFen"),
        (_set(discountFen=8998 + 800 + 1), "discountFen"),
        (_set(paidAt=FAR_FUTURE), "paidAt"),
        (_set(entry="from=a&from=b"), "entry"),
        (_set(entry="=x"), "entry"),
        (_set(entry="from=article&id=" + "1" * 600), "entry"),
        (_set(entry="from=" + "a" * 40), "entry"),
        (_set(entry="from=article&id"), "entry"),
        (_set(entry="from=article&id=%00"), "entry"),
        (_set(entry="from=article&" + "&".join(f"k{n}=v" for n in range(12))), "entry"),
        (_set(channel="SMS"), "channel"),
        (_set(externalId=""), "externalId"),
        (_set(externalId="   "), "externalId"),
        (_set(externalId="x" * 65), "externalId"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_bad_order_input_is_bad_user_input_naming_the_field(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    change: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    given = order_input(profile_id)
    change(given)
    body = await gql(service_client, RECORD, {"input": given})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"].startswith(field), body
    assert await count(database, Order) == 0
    assert await count(database, OrderItem) == 0


async def test_an_order_with_more_items_than_a_list_may_hold_is_refused_before_anything_is_written(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    given = order_input(profile_id)
    given["items"] = [{"sku": "S", "name": "n", "quantity": 1, "unitPriceFen": 1}] * 101
    body = await gql(service_client, RECORD, {"input": given}, status=400)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["limit"] == "list", body
    assert await count(database, Order) == 0
    assert await count(database, OrderItem) == 0


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ({}, "shippingAddress"),
        ({"province": "上海市", "street": "路" * 101}, "shippingAddress.street"),
    ],
)
async def test_a_bad_shipping_address_is_bad_user_input_naming_shipping_address(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    address: dict[str, str],
    field: str,
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    body = await gql(
        service_client, RECORD, {"input": order_input(profile_id, shippingAddress=address)}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await count(database, Order) == 0
    assert body["errors"][0]["extensions"]["field"] == field, body


GOLD_BAR = {"sku": "GOLD-1KG", "name": "金条 1kg", "quantity": 2, "unitPriceFen": 2_000_000_000}


async def test_an_order_beyond_what_graphql_int_carries_is_refused_before_it_is_stored(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    given = order_input(profile_id, items=[GOLD_BAR], discountFen=0, shippingFen=0)
    body = await gql(service_client, RECORD, {"input": given})
    after = await gql(customer, "{ me { id orders { items { totalFen } } } }")
    assert error_codes(after) == [], after
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await count(database, Order) == 0


async def test_items_worth_too_much_are_refused_naming_the_items(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    given = order_input(
        profile_id, items=[{**GOLD_BAR, "quantity": 10_000}], discountFen=0, shippingFen=0
    )
    body = await gql(service_client, RECORD, {"input": given})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await count(database, Order) == 0
    assert body["errors"][0]["extensions"]["field"].startswith("items"), body


# --- the shipping address ----------------------------------------------------------------------


async def test_the_shipping_address_is_sealed_at_rest(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    [mine] = (await my_orders(customer))["items"]
    assert mine["shippingAddress"]["street"] == CANARY_STREET
    if backend == "sqlite":
        stored = raw_sqlite_bytes(settings)
    else:
        stored = await stored_postgres_values(database)
    assert b"TEA-001" in stored, "the scan must see what is stored in the clear"
    for canary in (CANARY_STREET, CANARY_DISTRICT):
        assert canary.encode() not in stored, f"{canary} stored in plaintext"


async def test_support_and_compliance_see_full_orders_but_only_province_and_city(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    order = await record(service_client, order_input(profile_id))
    for role in (Role.SUPPORT, Role.COMPLIANCE):
        body = await gql(client_for(role), STAFF_ORDERS, {"id": profile_id})
        assert "errors" not in body, (role, body)
        [seen] = body["data"]["profile"]["orders"]["items"]
        assert seen["items"] == order["items"]
        assert (seen["itemsFen"], seen["discountFen"], seen["shippingFen"], seen["totalFen"]) == (
            8998,
            1000,
            800,
            8798,
        )
        assert seen["shippingAddress"] == {
            "province": "上海市",
            "city": "上海市",
            "district": None,
            "street": None,
        }


async def test_service_sees_the_order_but_is_forbidden_the_shipping_address(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    body = await gql(service_client, STAFF_ORDERS, {"id": profile_id})
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["profile", "orders", "items", 0, "shippingAddress"]
    [seen] = body["data"]["profile"]["orders"]["items"]
    assert seen["shippingAddress"] is None
    assert seen["totalFen"] == 8798
    assert [i["sku"] for i in seen["items"]] == ["TEA-001", "CUP-007"]
    assert CANARY_STREET not in str(body)


async def test_customers_and_staff_cannot_record_orders(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    for client in (
        customer,
        client_for(Role.SUPPORT),
        client_for(Role.COMPLIANCE),
        client_for(Role.ANALYST),
    ):
        body = await gql(client, RECORD, {"input": order_input(profile_id)})
        assert error_codes(body) == ["FORBIDDEN"]
    assert await count(database, Order) == 0


# --- the audit trail ---------------------------------------------------------------------------


async def audit_actions(database: Database, request_id: str) -> list[tuple[str, str]]:
    async with database.transaction() as session:
        rows = await session.execute(
            sa.select(AUDIT.c.action, AUDIT.c.outcome)
            .where(AUDIT.c.request_id == request_id)
            .order_by(AUDIT.c.seq)
        )
        return [(str(action), str(outcome)) for action, outcome in rows]


async def test_every_record_order_leaves_an_audit_record(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    body, request_id = await recorded(service_client, order_input(profile_id))
    assert "errors" not in body
    assert ("order.record", "ok") in await audit_actions(database, request_id)

    body, request_id = await recorded(service_client, order_input(profile_id, status="SHIPPED"))
    assert "errors" not in body
    assert ("order.status", "ok") in await audit_actions(database, request_id)

    body, request_id = await recorded(service_client, order_input(profile_id, status="PAID"))
    assert error_codes(body) == ["CONFLICT"]
    assert await audit_actions(database, request_id) == [("order.record", "conflict")]

    body, request_id = await recorded(service_client, order_input(profile_id, items=[]))
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await audit_actions(database, request_id) == [("order.record", "bad_user_input")]


async def test_a_replay_that_changes_nothing_is_still_audited(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, _ = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    body, request_id = await recorded(service_client, order_input(profile_id))
    assert "errors" not in body
    actions = await audit_actions(database, request_id)
    assert [a for a in actions if a[0].startswith("order.")], actions


async def test_audit_records_of_orders_hold_no_address(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    await record(service_client, order_input(profile_id))
    await my_orders(customer)
    async with database.transaction() as session:
        rows = (await session.execute(sa.select(AUDIT.c.detail, AUDIT.c.fields))).all()
    assert rows
    assert CANARY_STREET not in str(rows)
    assert CANARY_DISTRICT not in str(rows)


async def test_order_items_arrive_whichever_way_the_query_asks_for_them(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    body = await gql(service_client, RECORD, {"input": order_input(profile_id)})
    assert "errors" not in body, body
    for query in (
        "{ me { orders { items { lines: items { sku } } } } }",
        "{ me { orders { items { ... on Order { items { sku } } } } } }",
        "{ me { orders { ...Page } } } fragment Page on OrderPage { items { ...O } }"
        " fragment O on Order { items { sku } }",
    ):
        body = await gql(customer, query)
        assert "errors" not in body, (query, body)
        [order] = body["data"]["me"]["orders"]["items"]
        assert [i["sku"] for i in order.get("items", order.get("lines"))] == [
            "TEA-001",
            "CUP-007",
        ]
