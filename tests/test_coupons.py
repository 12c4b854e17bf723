"""Coupons: issued idempotently with their terms, redeemed exactly once (also concurrently),
only inside their window and channels; listed by status and paged (both databases)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.db import Database
from cdp.loyalty.models import Coupon
from cdp.profiles import service
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.people import MINI, OFFICIAL, link

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

COUPON = (
    "id title status kind discountFen percentOff minSpendFen channels validFrom validUntil"
    " issuedAt redeemedAt redeemedChannel"
)
ISSUE = f"mutation Issue($input: IssueCouponInput!) {{ issueCoupon(input: $input) {{ {COUPON} }} }}"
REDEEM = (
    f"mutation Redeem($input: RedeemCouponInput!) {{ redeemCoupon(input: $input) {{ {COUPON} }} }}"
)
MY_COUPONS = """
query Mine($status: CouponStatus, $first: Int! = 20, $after: String) {
  me { coupons(status: $status, first: $first, after: $after) {
    items { id title status kind discountFen percentOff minSpendFen channels validFrom validUntil
            redeemedAt redeemedChannel }
    pageInfo { endCursor hasNextPage }
  } }
}
"""
LOOKUP_COUPONS = """
query Look($id: ID!, $status: CouponStatus) {
  profile(purpose: "工单 #4096 优惠券查询", id: $id) {
    coupons(status: $status) { items { id title status } }
  }
}
"""
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
_open_ids = itertools.count(1)
_keys = itertools.count(1)


# --- helpers -----------------------------------------------------------------------------------


def at(delta: timedelta) -> str:
    """An ISO timestamp `delta` from now."""
    return (datetime.now(UTC) + delta).isoformat()


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def new_person(client: httpx.AsyncClient) -> str:
    profile = await link(client, "MINI_PROGRAM", MINI, f"oCoupon_{next(_open_ids):020d}")
    return str(profile["id"])


async def issue(client: httpx.AsyncClient, profile_id: str, **terms: Any) -> dict[str, Any]:
    """Send issueCoupon (a fresh key and 500 fen off unless given); the whole body."""
    given = {
        "profileId": profile_id,
        "title": "满100减5",
        "discountFen": 500,
        "idempotencyKey": f"coupon-{next(_keys)}",
        **terms,
    }
    return await gql(client, ISSUE, {"input": given})


async def issued(client: httpx.AsyncClient, profile_id: str, **terms: Any) -> dict[str, Any]:
    body = await issue(client, profile_id, **terms)
    assert "errors" not in body, body
    coupon: dict[str, Any] = body["data"]["issueCoupon"]
    return coupon


async def redeem(
    client: httpx.AsyncClient, coupon_id: str, channel: str | None = None
) -> dict[str, Any]:
    return await gql(client, REDEEM, {"input": {"couponId": coupon_id, "channel": channel}})


def refused(body: dict[str, Any], code: str, field: str | None = None) -> None:
    assert error_codes(body) == [code], body
    assert all(value is None for value in body["data"].values()), body
    if field is not None:
        assert body["errors"][0]["extensions"].get("field") == field, body


async def my_coupons(client_for: ClientFactory, person: str, **variables: Any) -> dict[str, Any]:
    body = await gql(client_for(Role.CUSTOMER, subject=person), MY_COUPONS, variables)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["me"]["coupons"]
    return page


async def coupon_rows(database: Database) -> list[Coupon]:
    async with database.transaction() as session:
        return list((await session.scalars(sa.select(Coupon).order_by(col(Coupon.id)))).all())


async def audit_records(database: Database, action_prefix: str) -> list[tuple[str, str, Any]]:
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(table.c.action, table.c.outcome, table.c.profile_id)
        .where(table.c.action.startswith(action_prefix))
        .order_by(table.c.seq)
    )
    async with database.transaction() as session:
        return [tuple(row) for row in (await session.execute(query)).all()]


async def one_of_each_status(client: httpx.AsyncClient, person: str) -> dict[str, str]:
    """Coupons AVAILABLE, UPCOMING, EXPIRED and REDEEMED; their ids by status."""
    ids = {
        "AVAILABLE": (await issued(client, person, title="available"))["id"],
        "UPCOMING": (
            await issued(
                client,
                person,
                title="upcoming",
                validFrom=at(timedelta(days=1)),
                validUntil=at(timedelta(days=30)),
            )
        )["id"],
        "EXPIRED": (
            await issued(
                client,
                person,
                title="expired",
                validFrom=at(-timedelta(days=30)),
                validUntil=at(-timedelta(days=1)),
            )
        )["id"],
        "REDEEMED": (await issued(client, person, title="redeemed"))["id"],
    }
    body = await redeem(client, ids["REDEEMED"], "MINI_PROGRAM")
    assert "errors" not in body, body
    return ids


# --- issuing and listing -----------------------------------------------------------------------


@CITUS
async def test_issued_coupons_carry_their_terms_to_the_customer_and_to_support(
    service_client: httpx.AsyncClient, client_for: ClientFactory, support_client: httpx.AsyncClient
) -> None:
    person = await new_person(service_client)
    starts, ends = at(-timedelta(hours=1)), at(timedelta(days=7))
    amount = await issued(
        service_client,
        person,
        title="  新人  立减 ",
        discountFen=1000,
        minSpendFen=5000,
        validFrom=starts,
        validUntil=ends,
        channels=["MINI_PROGRAM", "WEB"],
    )
    assert amount["title"] == "新人 立减"
    assert (amount["kind"], amount["discountFen"], amount["percentOff"]) == ("AMOUNT", 1000, None)
    assert amount["minSpendFen"] == 5000
    assert sorted(amount["channels"]) == ["MINI_PROGRAM", "WEB"]
    assert instant(amount["validFrom"]) == instant(starts)
    assert instant(amount["validUntil"]) == instant(ends)
    assert amount["status"] == "AVAILABLE"
    assert amount["redeemedAt"] is None and amount["redeemedChannel"] is None

    percent = await issued(
        service_client, person, title="八折", kind="PERCENT", percentOff=20, discountFen=3000
    )
    assert (percent["kind"], percent["percentOff"], percent["discountFen"]) == ("PERCENT", 20, 3000)
    assert percent["channels"] == [] and percent["validUntil"] is None
    assert percent["minSpendFen"] == 0
    assert instant(percent["validFrom"]) <= datetime.now(UTC)  # type: ignore[operator]

    mine = await my_coupons(client_for, person)
    assert [c["id"] for c in mine["items"]] == [percent["id"], amount["id"]]  # newest first
    listed = {c["id"]: c for c in mine["items"]}
    assert listed[amount["id"]] == {k: amount[k] for k in listed[amount["id"]]}
    assert listed[percent["id"]] == {k: percent[k] for k in listed[percent["id"]]}
    assert mine["pageInfo"]["hasNextPage"] is False

    body = await gql(support_client, LOOKUP_COUPONS, {"id": person})
    assert "errors" not in body, body
    assert body["data"]["profile"]["coupons"]["items"] == [
        {"id": percent["id"], "title": "八折", "status": "AVAILABLE"},
        {"id": amount["id"], "title": "新人 立减", "status": "AVAILABLE"},
    ]


async def test_the_status_filter_lists_each_kind_of_coupon(
    service_client: httpx.AsyncClient, client_for: ClientFactory, support_client: httpx.AsyncClient
) -> None:
    person = await new_person(service_client)
    ids = await one_of_each_status(service_client, person)

    everything = await my_coupons(client_for, person)
    assert [c["id"] for c in everything["items"]] == [
        ids["REDEEMED"],
        ids["EXPIRED"],
        ids["UPCOMING"],
        ids["AVAILABLE"],
    ]
    assert {c["id"]: c["status"] for c in everything["items"]} == {v: k for k, v in ids.items()}
    for status, coupon_id in ids.items():
        page = await my_coupons(client_for, person, status=status)
        assert [(c["id"], c["status"]) for c in page["items"]] == [(coupon_id, status)], status
        body = await gql(support_client, LOOKUP_COUPONS, {"id": person, "status": status})
        assert [c["id"] for c in body["data"]["profile"]["coupons"]["items"]] == [coupon_id]

    redeemed = (await my_coupons(client_for, person, status="REDEEMED"))["items"][0]
    assert redeemed["redeemedChannel"] == "MINI_PROGRAM"
    assert redeemed["redeemedAt"] is not None


async def test_a_person_sees_only_their_own_coupons(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    alice = await new_person(service_client)
    bob = await new_person(service_client)
    mine = await issued(service_client, alice, title="alice")
    await issued(service_client, bob, title="bob")
    assert [c["id"] for c in (await my_coupons(client_for, alice))["items"]] == [mine["id"]]


async def test_coupon_pages_walk_every_coupon_once(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    ids = [(await issued(service_client, person, title=f"券 {n}"))["id"] for n in range(5)]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await my_coupons(client_for, person, first=2, after=after)
        pages += 1
        assert 1 <= len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == list(reversed(ids))

    # The status filter pages the same way.
    await redeem(service_client, ids[0])
    await redeem(service_client, ids[1])
    await redeem(service_client, ids[2])
    first = await my_coupons(client_for, person, status="REDEEMED", first=2)
    assert [c["id"] for c in first["items"]] == [ids[2], ids[1]]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await my_coupons(
        client_for, person, status="REDEEMED", first=2, after=first["pageInfo"]["endCursor"]
    )
    assert [c["id"] for c in rest["items"]] == [ids[0]]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_coupon_issued_while_paging_does_not_repeat_an_item(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    ids = [(await issued(service_client, person, title=f"券 {n}"))["id"] for n in range(4)]
    first = await my_coupons(client_for, person, first=2)
    await issued(service_client, person, title="new arrival")
    second = await my_coupons(client_for, person, first=2, after=first["pageInfo"]["endCursor"])
    seen = [c["id"] for c in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)), seen
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    ("first", "after", "field"),
    [
        (0, None, "first"),
        (101, None, "first"),
        (2, "garbage", "after"),
        (2, "WyJwb2ludHMiLDFd", "after"),  # a points-history cursor
    ],
)
async def test_coupons_refuse_a_bad_page_size_or_cursor(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    first: int,
    after: str | None,
    field: str,
) -> None:
    person = await new_person(service_client)
    await issued(service_client, person)
    body = await gql(
        client_for(Role.CUSTOMER, subject=person), MY_COUPONS, {"first": first, "after": after}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"].get("field") == field


# --- redeeming ---------------------------------------------------------------------------------


@CITUS
async def test_ten_parallel_redemptions_of_one_coupon_let_exactly_one_through(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person)
    bodies = await asyncio.gather(
        *[redeem(client_for(Role.SERVICE), coupon["id"], "OFFICIAL_ACCOUNT") for _ in range(10)]
    )
    winners = [b["data"]["redeemCoupon"] for b in bodies if "errors" not in b]
    assert len(winners) == 1
    losers = [b for b in bodies if "errors" in b]
    assert len(losers) == 9
    for body in losers:
        refused(body, "CONFLICT")
    assert winners[0]["status"] == "REDEEMED"
    assert winners[0]["redeemedChannel"] == "OFFICIAL_ACCOUNT"

    listed = (await my_coupons(client_for, person))["items"]
    assert len(listed) == 1
    assert listed[0]["status"] == "REDEEMED"
    assert listed[0]["redeemedChannel"] == "OFFICIAL_ACCOUNT"
    assert instant(listed[0]["redeemedAt"]) == instant(winners[0]["redeemedAt"])
    rows = await coupon_rows(database)
    assert len(rows) == 1 and rows[0].redeemed_at is not None
    outcomes = [outcome for _, outcome, _ in await audit_records(database, "coupon.redeem")]
    assert sorted(outcomes) == ["conflict"] * 9 + ["ok"]


async def test_a_second_redemption_is_a_conflict_and_changes_nothing(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person)
    first = await redeem(service_client, coupon["id"], "WEB")
    assert "errors" not in first, first
    used = first["data"]["redeemCoupon"]
    assert used["status"] == "REDEEMED" and used["redeemedChannel"] == "WEB"
    assert instant(used["redeemedAt"]) <= datetime.now(UTC)  # type: ignore[operator]
    refused(await redeem(service_client, coupon["id"], "MINI_PROGRAM"), "CONFLICT")
    refused(await redeem(service_client, coupon["id"]), "CONFLICT")
    listed = (await my_coupons(client_for, person))["items"][0]
    assert listed["redeemedChannel"] == "WEB"
    assert instant(listed["redeemedAt"]) == instant(used["redeemedAt"])


async def test_a_coupon_for_every_channel_redeems_without_naming_one(
    service_client: httpx.AsyncClient,
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person)
    body = await redeem(service_client, coupon["id"])
    assert "errors" not in body, body
    assert body["data"]["redeemCoupon"]["redeemedChannel"] is None
    assert body["data"]["redeemCoupon"]["status"] == "REDEEMED"


@pytest.mark.parametrize(
    ("window", "status"),
    [
        ((-timedelta(days=30), -timedelta(days=1)), "EXPIRED"),
        ((-timedelta(days=30), -timedelta(seconds=1)), "EXPIRED"),
        ((timedelta(days=1), timedelta(days=30)), "UPCOMING"),
        ((timedelta(hours=1), None), "UPCOMING"),
    ],
    ids=["expired", "just-expired", "upcoming", "upcoming-open-ended"],
)
async def test_a_coupon_outside_its_window_cannot_be_redeemed(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    window: tuple[timedelta, timedelta | None],
    status: str,
) -> None:
    person = await new_person(service_client)
    starts, ends = window
    coupon = await issued(
        service_client,
        person,
        validFrom=at(starts),
        validUntil=None if ends is None else at(ends),
    )
    assert coupon["status"] == status
    refused(await redeem(service_client, coupon["id"], "WEB"), "CONFLICT")
    refused(await redeem(service_client, coupon["id"]), "CONFLICT")
    listed = (await my_coupons(client_for, person))["items"][0]
    assert listed["status"] == status
    assert listed["redeemedAt"] is None and listed["redeemedChannel"] is None
    assert (await coupon_rows(database))[0].redeemed_at is None


async def test_a_coupon_limited_to_a_channel_redeems_only_there(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person, channels=["MINI_PROGRAM"])
    assert coupon["channels"] == ["MINI_PROGRAM"]
    refused(await redeem(service_client, coupon["id"], "WEB"), "CONFLICT")
    refused(await redeem(service_client, coupon["id"]), "CONFLICT")
    assert (await my_coupons(client_for, person))["items"][0]["status"] == "AVAILABLE"
    body = await redeem(service_client, coupon["id"], "MINI_PROGRAM")
    assert "errors" not in body, body
    assert body["data"]["redeemCoupon"]["redeemedChannel"] == "MINI_PROGRAM"


async def test_an_unknown_coupon_is_not_found(service_client: httpx.AsyncClient) -> None:
    refused(await redeem(service_client, UNKNOWN_ID), "NOT_FOUND")
    refused(await redeem(service_client, "not-a-coupon-id"), "NOT_FOUND")


async def test_issuing_to_an_unknown_profile_is_not_found(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    refused(await issue(service_client, UNKNOWN_ID), "NOT_FOUND")
    assert await coupon_rows(database) == []


@CITUS
async def test_coupons_follow_a_merge_to_the_survivor(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    union = "oUnion_coupon_merge_0000001"
    older = (await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_cpnmerge_000000001"))[
        "id"
    ]
    newer = (await link(service_client, "MINI_PROGRAM", MINI, "oMini_cpnmerge_000000001", union))[
        "id"
    ]
    kept = await issued(service_client, older, title="older")
    moved = await issued(service_client, newer, title="newer")
    await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_cpnmerge_000000001", union)
    listed = await my_coupons(client_for, older)
    assert sorted(c["id"] for c in listed["items"]) == sorted([kept["id"], moved["id"]])
    # Issuing under the merged-away id lands on the survivor too.
    late = await issued(service_client, newer, title="late")
    assert len((await my_coupons(client_for, older))["items"]) == 3
    assert "errors" not in await redeem(service_client, late["id"])
    async with database.transaction() as session:
        survivor = await service.get_profile(session=session, public_id=older)
    assert survivor is not None
    assert {row.profile_id for row in await coupon_rows(database)} == {survivor.id}


# --- idempotent issue --------------------------------------------------------------------------


async def test_issuing_twice_with_one_key_gives_one_coupon(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    first = await issued(service_client, person, idempotencyKey="welcome-gift")
    again = await issued(service_client, person, idempotencyKey="welcome-gift")
    assert again["id"] == first["id"]
    assert again == first
    assert len(await coupon_rows(database)) == 1
    assert len((await my_coupons(client_for, person))["items"]) == 1
    # A replay after redemption still names the same (used) coupon and issues nothing.
    await redeem(service_client, first["id"])
    replay = await issued(service_client, person, idempotencyKey="welcome-gift")
    assert replay["id"] == first["id"] and replay["status"] == "REDEEMED"
    assert len(await coupon_rows(database)) == 1


@CITUS
async def test_concurrent_issues_with_one_key_give_one_coupon(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    bodies = await asyncio.gather(
        *[issue(client_for(Role.SERVICE), person, idempotencyKey="burst") for _ in range(8)]
    )
    for body in bodies:
        assert "errors" not in body, body
    assert len({b["data"]["issueCoupon"]["id"] for b in bodies}) == 1
    assert len(await coupon_rows(database)) == 1


@pytest.mark.parametrize(
    "different",
    [{"discountFen": 600}, {"title": "another title"}],
    ids=["discount", "title"],
)
async def test_the_same_key_for_a_different_coupon_is_a_conflict(
    service_client: httpx.AsyncClient, database: Database, different: dict[str, Any]
) -> None:
    person = await new_person(service_client)
    await issued(service_client, person, idempotencyKey="campaign-9")
    refused(
        await issue(service_client, person, idempotencyKey="campaign-9", **different), "CONFLICT"
    )
    assert len(await coupon_rows(database)) == 1


@CITUS
async def test_the_same_key_for_another_profile_is_a_conflict(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    alice = await new_person(service_client)
    bob = await new_person(service_client)
    await issued(service_client, alice, idempotencyKey="campaign-9")
    refused(await issue(service_client, bob, idempotencyKey="campaign-9"), "CONFLICT")
    assert (await my_coupons(client_for, bob))["items"] == []
    assert len(await coupon_rows(database)) == 1


@pytest.mark.parametrize(
    "different",
    [
        {"kind": "PERCENT", "percentOff": 10},
        {"minSpendFen": 10_000},
        {"channels": ["WEB"]},
        {"validUntil": "2099-01-01T00:00:00+00:00"},
    ],
    ids=["kind", "min-spend", "channels", "window"],
)
async def test_the_same_key_with_other_terms_is_a_conflict(
    service_client: httpx.AsyncClient, database: Database, different: dict[str, Any]
) -> None:
    person = await new_person(service_client)
    await issued(service_client, person, idempotencyKey="campaign-10")
    body = await issue(service_client, person, idempotencyKey="campaign-10", **different)
    refused(body, "CONFLICT")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"discountFen": 0}, "discountFen"),
        ({"discountFen": -100}, "discountFen"),
        ({"discountFen": 100_000_001}, "discountFen"),
        ({"kind": "PERCENT"}, "percentOff"),
        ({"kind": "PERCENT", "percentOff": 0}, "percentOff"),
        ({"kind": "PERCENT", "percentOff": 100}, "percentOff"),
        ({"kind": "PERCENT", "percentOff": -5}, "percentOff"),
        ({"percentOff": 20}, "percentOff"),
        ({"kind": "AMOUNT", "percentOff": 20}, "percentOff"),
        ({"minSpendFen": -1}, "minSpendFen"),
        ({"minSpendFen": 100_000_001}, "minSpendFen"),
        (
            {"validFrom": "2030-01-02T00:00:00+00:00", "validUntil": "2030-01-01T00:00:00+00:00"},
            "validUntil",
        ),
        (
            {"validFrom": "2030-01-01T00:00:00+00:00", "validUntil": "2030-01-01T00:00:00+00:00"},
            "validUntil",
        ),
        ({"validUntil": "2000-01-01T00:00:00+00:00"}, "validUntil"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "券" * 101}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"idempotencyKey": ""}, "idempotencyKey"),
        ({"idempotencyKey": "k" * 129}, "idempotencyKey"),
        ({"idempotencyKey": "cdp:coupon"}, "idempotencyKey"),
    ],
    ids=[
        "discount-zero",
        "discount-negative",
        "discount-too-big",
        "percent-missing",
        "percent-zero",
        "percent-hundred",
        "percent-negative",
        "percent-on-default-amount",
        "percent-on-amount",
        "min-spend-negative",
        "min-spend-too-big",
        "until-before-from",
        "until-equals-from",
        "until-before-now-without-from",
        "title-empty",
        "title-blank",
        "title-too-long",
        "title-control",
        "key-empty",
        "key-too-long",
        "key-reserved",
    ],
)
async def test_bad_coupon_terms_are_bad_input_naming_the_field(
    service_client: httpx.AsyncClient, database: Database, terms: dict[str, Any], field: str
) -> None:
    person = await new_person(service_client)
    refused(await issue(service_client, person, **terms), "BAD_USER_INPUT", field)
    assert await coupon_rows(database) == []


async def test_the_largest_terms_are_accepted(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    await issued(service_client, person, discountFen=100_000_000, minSpendFen=100_000_000)
    await issued(service_client, person, kind="PERCENT", percentOff=99, title="券" * 100)
    await issued(service_client, person, kind="PERCENT", percentOff=1)
    assert len(await coupon_rows(database)) == 3


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", [Role.CUSTOMER, Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.COMPLIANCE]
)
async def test_only_the_service_role_may_issue_or_redeem(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database, role: Role
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person)
    someone = client_for(role, subject=person if role is Role.CUSTOMER else None)
    refused(await issue(someone, person), "FORBIDDEN")
    refused(await redeem(someone, coupon["id"], "MINI_PROGRAM"), "FORBIDDEN")
    rows = await coupon_rows(database)
    assert len(rows) == 1 and rows[0].redeemed_at is None
    forbidden = [a for a, outcome, _ in await audit_records(database, "mutation.")]
    assert forbidden == ["mutation.issueCoupon", "mutation.redeemCoupon"]


async def test_the_analyst_cannot_read_coupons(
    service_client: httpx.AsyncClient, analyst_client: httpx.AsyncClient
) -> None:
    person = await new_person(service_client)
    await issued(service_client, person)
    body = await gql(analyst_client, LOOKUP_COUPONS, {"id": person})
    assert error_codes(body) == ["FORBIDDEN"], body


async def test_compliance_reads_coupons_of_a_profile_it_looks_up(
    service_client: httpx.AsyncClient, compliance_client: httpx.AsyncClient
) -> None:
    person = await new_person(service_client)
    coupon = await issued(service_client, person)
    body = await gql(compliance_client, LOOKUP_COUPONS, {"id": person})
    assert "errors" not in body, body
    assert [c["id"] for c in body["data"]["profile"]["coupons"]["items"]] == [coupon["id"]]


# --- audit -------------------------------------------------------------------------------------


async def test_issue_and_redeem_are_audited_and_a_refused_redemption_too(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    async with database.transaction() as session:
        profile = await service.get_profile(session=session, public_id=person)
    assert profile is not None
    coupon = await issued(service_client, person)
    await redeem(service_client, coupon["id"])
    refused(await redeem(service_client, coupon["id"]), "CONFLICT")
    refused(await issue(service_client, person, discountFen=0), "BAD_USER_INPUT")
    records = await audit_records(database, "coupon.")
    assert [(action, outcome) for action, outcome, _ in records] == [
        ("coupon.issue", "ok"),
        ("coupon.redeem", "ok"),
        ("coupon.redeem", "conflict"),
        ("coupon.issue", "bad_user_input"),
    ]
    assert records[0][2] == records[1][2] == records[3][2] == profile.id


async def test_a_refused_redemption_is_audited_against_the_coupons_profile(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    async with database.transaction() as session:
        profile = await service.get_profile(session=session, public_id=person)
    assert profile is not None
    coupon = await issued(service_client, person, channels=["WEB"])
    refused(await redeem(service_client, coupon["id"], "MINI_PROGRAM"), "CONFLICT")
    assert await audit_records(database, "coupon.redeem") == [
        ("coupon.redeem", "conflict", profile.id)
    ]
