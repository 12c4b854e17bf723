"""Points: earn, spend, adjust, expire; idempotent writes; never below zero, also under
concurrent spends; history paging; who may write and read; the audit trail (both databases)."""

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
from cdp.auth import Principal, Role
from cdp.db import Database
from cdp.loyalty import points
from cdp.loyalty.models import EntryKind, PointsEntry
from cdp.profiles import service
from tests.conftest import ClientFactory, audited, error_codes, gql
from tests.support.people import MINI, OFFICIAL, link
from tests.support.purchases import EARN, ENTRY

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

SPEND = f"mutation Spend($input: SpendPointsInput!) {{ spendPoints(input: $input) {{ {ENTRY} }} }}"
ADJUST = (
    f"mutation Adjust($input: AdjustPointsInput!) {{ adjustPoints(input: $input) {{ {ENTRY} }} }}"
)
FIELD_OF = {EARN: "earnPoints", SPEND: "spendPoints", ADJUST: "adjustPoints"}
MY_POINTS = """
query Mine($first: Int! = 20, $after: String) {
  me { points { balance history(first: $first, after: $after) {
    items { id kind points balanceAfter reason channel }
    pageInfo { endCursor hasNextPage }
  } } }
}
"""
LOOKUP_POINTS = """
query Look($id: ID!) {
  profile(purpose: "工单 #2048 积分查询", id: $id) {
    points { balance history { items { kind points balanceAfter } } }
  }
}
"""
OPERATOR = Principal(subject="test-operator", role=Role.SERVICE)
YEAR = timedelta(days=365)
_open_ids = itertools.count(1)


# --- helpers -----------------------------------------------------------------------------------


async def new_person(client: httpx.AsyncClient) -> str:
    """A fresh profile (first sight of a mini-program OpenID); its public id."""
    profile = await link(client, "MINI_PROGRAM", MINI, f"oPoints_{next(_open_ids):020d}")
    return str(profile["id"])


async def write(
    client: httpx.AsyncClient,
    mutation: str,
    profile_id: str,
    amount: int,
    key: str,
    **extra: Any,
) -> dict[str, Any]:
    """Send one points mutation; the whole response body."""
    variables = {"profileId": profile_id, "points": amount, "idempotencyKey": key, **extra}
    return await gql(client, mutation, {"input": variables})


async def written(
    client: httpx.AsyncClient,
    mutation: str,
    profile_id: str,
    amount: int,
    key: str,
    **extra: Any,
) -> dict[str, Any]:
    """Send one points mutation that must succeed; the entry it returns."""
    body = await write(client, mutation, profile_id, amount, key, **extra)
    assert "errors" not in body, body
    entry: dict[str, Any] = body["data"][FIELD_OF[mutation]]
    return entry


def refused(body: dict[str, Any], code: str, field: str | None = None) -> None:
    assert error_codes(body) == [code], body
    assert all(value is None for value in body["data"].values()), body
    if field is not None:
        assert body["errors"][0]["extensions"].get("field") == field, body


async def internal_id(database: Database, public_id: str) -> int:
    async with database.transaction() as session:
        profile = await service.get_profile(session=session, public_id=public_id)
    assert profile is not None and profile.id is not None
    return profile.id


async def ledger(database: Database, public_id: str | None = None) -> list[PointsEntry]:
    """Ledger rows in the order written, of one profile or of everyone."""
    query = sa.select(PointsEntry).order_by(col(PointsEntry.id))
    if public_id is not None:
        pid = await internal_id(database, public_id)
        query = query.where(col(PointsEntry.profile_id) == pid)
    async with database.transaction() as session:
        return list((await session.scalars(query)).all())


async def balance(client_for: ClientFactory, public_id: str) -> int:
    body = await gql(client_for(Role.CUSTOMER, subject=public_id), "{ me { points { balance } } }")
    assert "errors" not in body, body
    return int(body["data"]["me"]["points"]["balance"])


async def audit_records(database: Database, action_prefix: str) -> list[tuple[str, str, Any]]:
    """(action, outcome, profile surrogate id) of audit records whose action starts so."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(table.c.action, table.c.outcome, table.c.profile_id)
        .where(table.c.action.startswith(action_prefix))
        .order_by(table.c.seq)
    )
    async with database.transaction() as session:
        return [tuple(row) for row in (await session.execute(query)).all()]


async def direct(
    database: Database,
    public_id: str,
    kind: EntryKind,
    amount: int,
    key: str,
    now: datetime,
    lifetime: timedelta = YEAR,
) -> PointsEntry:
    """A ledger write through the service, at a chosen time."""
    async with audited(database) as session:
        profile = await service.get_profile(session=session, public_id=public_id)
        assert profile is not None
        return await points.record_entry(
            session=session,
            profile=profile,
            kind=kind,
            points=amount,
            idempotency_key=key,
            reason="test",
            lifetime=lifetime,
            now=now,
        )


async def balance_at(database: Database, public_id: str, now: datetime) -> int:
    pid = await internal_id(database, public_id)
    async with audited(database) as session:
        found = await points.current_balances(session=session, profile_ids=[pid], now=now)
    return found[pid]


# --- earning and spending ----------------------------------------------------------------------


@CITUS
async def test_earning_then_spending_moves_the_balance_and_the_history_says_how(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    earned = await written(
        service_client, EARN, person, 120, "order-1001", reason="order 1001", channel="MINI_PROGRAM"
    )
    assert earned["kind"] == "EARN" and earned["points"] == 120 and earned["balanceAfter"] == 120
    assert earned["expiresAt"] is not None
    spent = await written(
        service_client, SPEND, person, 45, "redeem-1", reason="gift", channel="WEB"
    )
    assert spent["kind"] == "SPEND" and spent["points"] == -45 and spent["balanceAfter"] == 75
    assert spent["expiresAt"] is None

    me = client_for(Role.CUSTOMER, subject=person)
    body = await gql(me, MY_POINTS)
    assert "errors" not in body, body
    mine = body["data"]["me"]["points"]
    assert mine["balance"] == 75
    assert [{k: v for k, v in e.items() if k != "id"} for e in mine["history"]["items"]] == [
        {"kind": "SPEND", "points": -45, "balanceAfter": 75, "reason": "gift", "channel": "WEB"},
        {
            "kind": "EARN",
            "points": 120,
            "balanceAfter": 120,
            "reason": "order 1001",
            "channel": "MINI_PROGRAM",
        },
    ]
    assert [e["id"] for e in mine["history"]["items"]] == [spent["id"], earned["id"]]
    assert mine["history"]["pageInfo"]["hasNextPage"] is False


async def test_history_pages_walk_every_entry_once_newest_first(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    for n in range(7):
        if n % 3 == 2:
            await written(service_client, SPEND, person, 5, f"walk-{n}")
        else:
            await written(service_client, EARN, person, 10 + n, f"walk-{n}")
    me = client_for(Role.CUSTOMER, subject=person)
    everything = (await gql(me, MY_POINTS, {"first": 100}))["data"]["me"]["points"]["history"]
    all_ids = [e["id"] for e in everything["items"]]
    assert len(all_ids) == 7 and all_ids == sorted(all_ids, key=int, reverse=True)

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await gql(me, MY_POINTS, {"first": 2, "after": after})
        assert "errors" not in body, body
        page = body["data"]["me"]["points"]["history"]
        pages += 1
        assert 1 <= len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 4
    assert seen == all_ids


@pytest.mark.parametrize(
    ("first", "after", "field"),
    [
        (0, None, "first"),
        (101, None, "first"),
        (-1, None, "first"),
        (2, "not-a-cursor", "after"),
        (2, "", "after"),
        (2, "WyJjb3Vwb25zIiwyXQ", "after"),  # a coupons cursor, not a history one
    ],
)
async def test_history_refuses_a_bad_page_size_or_cursor(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    first: int,
    after: str | None,
    field: str,
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 10, "bad-page")
    body = await gql(
        client_for(Role.CUSTOMER, subject=person), MY_POINTS, {"first": first, "after": after}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"].get("field") == field


@CITUS
async def test_twenty_parallel_spends_of_ten_against_a_hundred_leave_exactly_zero(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "parallel-earn")

    # Each spend on its own client: its own request, connection and transaction.
    bodies = await asyncio.gather(
        *[
            write(client_for(Role.SERVICE), SPEND, person, 10, f"parallel-spend-{n}")
            for n in range(20)
        ]
    )
    succeeded = [b["data"]["spendPoints"] for b in bodies if "errors" not in b]
    failed = [b for b in bodies if "errors" in b]
    assert len(succeeded) == 10
    assert len(failed) == 10
    for body in failed:
        refused(body, "CONFLICT")
    assert sorted(e["balanceAfter"] for e in succeeded) == list(range(0, 100, 10))

    assert await balance(client_for, person) == 0
    rows = await ledger(database, person)
    assert sum(row.points for row in rows) == 0
    assert len(rows) == 11
    assert [row.kind for row in rows].count(EntryKind.SPEND) == 10


async def test_spending_more_than_the_balance_is_a_conflict_and_writes_nothing(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 30, "small-earn")
    refused(await write(service_client, SPEND, person, 31, "too-much"), "CONFLICT")
    assert await balance(client_for, person) == 30
    assert [row.idempotency_key for row in await ledger(database, person)] == ["small-earn"]
    # The refused key was not used up: it works once the points are there.
    await written(service_client, EARN, person, 1, "one-more")
    assert (await written(service_client, SPEND, person, 31, "too-much"))["balanceAfter"] == 0


async def test_spending_with_no_points_at_all_is_a_conflict(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    refused(await write(service_client, SPEND, person, 1, "nothing-there"), "CONFLICT")
    assert await ledger(database) == []


# --- idempotency -------------------------------------------------------------------------------


async def test_a_replayed_earn_changes_nothing_and_returns_the_same_entry(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    first = await written(service_client, EARN, person, 50, "order-7-points", reason="order 7")
    await written(service_client, EARN, person, 5, "later")
    again = await written(service_client, EARN, person, 50, "order-7-points", reason="order 7")
    assert again["id"] == first["id"]
    assert again["balanceAfter"] == first["balanceAfter"] == 50
    assert again == first
    # Surrounding whitespace does not make it another key.
    assert (await written(service_client, EARN, person, 50, "  order-7-points "))["id"] == first[
        "id"
    ]
    assert await balance(client_for, person) == 55
    assert [r.idempotency_key for r in await ledger(database, person)] == [
        "order-7-points",
        "later",
    ]


async def test_a_replayed_spend_changes_nothing_even_when_the_balance_is_gone(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 20, "e")
    first = await written(service_client, SPEND, person, 20, "s")
    assert await written(service_client, SPEND, person, 20, "s") == first
    assert await balance(client_for, person) == 0
    assert len(await ledger(database, person)) == 2


@pytest.mark.parametrize(
    ("mutation", "amount"),
    [(EARN, 51), (EARN, 49), (SPEND, 50), (ADJUST, 50), (ADJUST, -50)],
    ids=["more", "less", "spend", "adjust", "adjust-down"],
)
async def test_the_same_key_for_a_different_request_is_a_conflict(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    mutation: str,
    amount: int,
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 50, "shared-key")
    await written(service_client, EARN, person, 100, "cushion")
    refused(await write(service_client, mutation, person, amount, "shared-key"), "CONFLICT")
    assert await balance(client_for, person) == 150
    assert len(await ledger(database, person)) == 2


@CITUS
async def test_the_same_key_for_another_profile_is_a_conflict(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    alice = await new_person(service_client)
    bob = await new_person(service_client)
    await written(service_client, EARN, alice, 50, "campaign-42")
    refused(await write(service_client, EARN, bob, 50, "campaign-42"), "CONFLICT")
    assert await balance(client_for, bob) == 0
    assert await ledger(database, bob) == []
    assert await balance(client_for, alice) == 50


async def test_concurrent_replays_of_one_key_create_one_entry(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    bodies = await asyncio.gather(
        *[write(client_for(Role.SERVICE), EARN, person, 70, "burst-key") for _ in range(10)]
    )
    for body in bodies:
        assert "errors" not in body, body
    entries = [b["data"]["earnPoints"] for b in bodies]
    assert len({e["id"] for e in entries}) == 1
    assert {e["balanceAfter"] for e in entries} == {70}
    assert await balance(client_for, person) == 70
    assert len(await ledger(database, person)) == 1


@CITUS
async def test_one_key_raced_for_two_profiles_lands_once(
    client_for: ClientFactory, database: Database
) -> None:
    service_client = client_for(Role.SERVICE)
    alice = await new_person(service_client)
    bob = await new_person(service_client)
    bodies = await asyncio.gather(
        *[
            write(client_for(Role.SERVICE), EARN, who, 10, "contested-key")
            for who in [alice, bob] * 4
        ]
    )
    winners = {b["data"]["earnPoints"]["id"] for b in bodies if "errors" not in b}
    assert len(winners) == 1
    for body in bodies:
        if "errors" in body:
            refused(body, "CONFLICT")
    rows = await ledger(database)
    assert len(rows) == 1
    assert await balance(client_for, alice) + await balance(client_for, bob) == 10


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mutation", [EARN, SPEND], ids=["earn", "spend"])
@pytest.mark.parametrize("amount", [0, -1, -10, 10_000_001])
async def test_points_outside_1_to_ten_million_are_bad_input(
    service_client: httpx.AsyncClient, database: Database, mutation: str, amount: int
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "base")
    refused(
        await write(service_client, mutation, person, amount, "odd"), "BAD_USER_INPUT", "points"
    )
    assert len(await ledger(database, person)) == 1


@pytest.mark.parametrize("amount", [0, 10_000_001, -10_000_001])
async def test_an_adjustment_of_zero_or_beyond_ten_million_is_bad_input(
    service_client: httpx.AsyncClient, database: Database, amount: int
) -> None:
    person = await new_person(service_client)
    refused(await write(service_client, ADJUST, person, amount, "odd"), "BAD_USER_INPUT", "points")
    assert await ledger(database) == []


async def test_ten_million_points_in_one_entry_is_the_most_allowed(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 10_000_000, "max")
    await written(service_client, SPEND, person, 10_000_000, "max-spend")
    assert await balance(client_for, person) == 0


@pytest.mark.parametrize("mutation", [EARN, SPEND, ADJUST], ids=["earn", "spend", "adjust"])
@pytest.mark.parametrize(
    "key",
    ["", "   ", "k" * 129, "cdp:expire:lot:1", "cdp:anything", "tab\there", "nl\nhere"],
    ids=["empty", "blank", "too-long", "reserved-expire", "reserved", "tab", "newline"],
)
async def test_unusable_idempotency_keys_are_bad_input(
    service_client: httpx.AsyncClient, database: Database, mutation: str, key: str
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "base")
    refused(
        await write(service_client, mutation, person, 1, key), "BAD_USER_INPUT", "idempotencyKey"
    )
    assert len(await ledger(database, person)) == 1


async def test_a_128_character_key_is_fine(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 1, "k" * 128)
    assert [r.idempotency_key for r in await ledger(database)] == ["k" * 128]


@pytest.mark.parametrize("reason", ["", "   ", "r" * 201])
async def test_an_empty_or_overlong_reason_is_bad_input(
    service_client: httpx.AsyncClient, database: Database, reason: str
) -> None:
    person = await new_person(service_client)
    body = await write(service_client, EARN, person, 1, "reasoned", reason=reason)
    refused(body, "BAD_USER_INPUT", "reason")
    assert await ledger(database) == []


@pytest.mark.parametrize("mutation", [EARN, SPEND, ADJUST], ids=["earn", "spend", "adjust"])
async def test_an_unknown_profile_is_not_found(
    service_client: httpx.AsyncClient, database: Database, mutation: str
) -> None:
    body = await write(service_client, mutation, "00000000-0000-4000-8000-000000000000", 1, "k")
    refused(body, "NOT_FOUND")
    assert await ledger(database) == []


@CITUS
async def test_a_merged_away_profile_id_still_earns_and_spends_on_the_survivor(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    union = "oUnion_points_merge_0000001"
    older = (await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_ptsmerge_000000001"))[
        "id"
    ]
    newer = (await link(service_client, "MINI_PROGRAM", MINI, "oMini_ptsmerge_000000001", union))[
        "id"
    ]
    await written(service_client, EARN, older, 40, "older-earn")
    loser_entry = await written(service_client, EARN, newer, 25, "newer-earn")
    merged = await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_ptsmerge_000000001", union
    )
    assert merged["id"] == older

    assert (await written(service_client, EARN, newer, 5, "after-merge"))["balanceAfter"] == 70
    assert (await written(service_client, SPEND, newer, 60, "spend-after"))["balanceAfter"] == 10
    # A replay under the merged-away id still finds its entry.
    assert await written(service_client, EARN, newer, 25, "newer-earn") == loser_entry
    assert await balance(client_for, older) == 10
    assert await balance(client_for, newer) == 10  # the loser's token reaches the survivor
    survivor = await internal_id(database, older)
    rows = await ledger(database)
    assert {row.profile_id for row in rows} == {survivor}
    assert sum(row.points for row in rows) == 10


# --- adjustments -------------------------------------------------------------------------------


async def test_adjustments_move_the_balance_up_and_down(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    up = await written(service_client, ADJUST, person, 80, "fix-up", reason="missed order")
    assert (up["kind"], up["points"], up["balanceAfter"]) == ("ADJUST", 80, 80)
    down = await written(service_client, ADJUST, person, -30, "fix-down", reason="double credit")
    assert (down["kind"], down["points"], down["balanceAfter"]) == ("ADJUST", -30, 50)
    assert (await written(service_client, SPEND, person, 50, "use-it"))["balanceAfter"] == 0
    assert await balance(client_for, person) == 0
    assert sum(row.points for row in await ledger(database, person)) == 0


async def test_an_adjustment_below_zero_is_a_conflict(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 20, "e")
    refused(await write(service_client, ADJUST, person, -21, "too-far"), "CONFLICT")
    assert await balance(client_for, person) == 20
    assert len(await ledger(database, person)) == 1
    assert (await written(service_client, ADJUST, person, -20, "exact"))["balanceAfter"] == 0


# --- expiry ------------------------------------------------------------------------------------


@CITUS
async def test_expired_points_stop_counting_and_the_ledger_writes_them_off(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    now = datetime.now(UTC).replace(microsecond=0)
    old = await direct(database, person, EntryKind.EARN, 50, "old", now - timedelta(days=364))
    assert old.expires_at == now + timedelta(days=1)
    await direct(database, person, EntryKind.EARN, 30, "new", now)
    spent = await direct(database, person, EntryKind.SPEND, -20, "spend", now)
    assert spent.balance_after == 60
    assert await balance_at(database, person, now) == 60
    assert [r.kind for r in await ledger(database, person)].count(EntryKind.EXPIRE) == 0

    # The spend took from the soonest-expiring lot: 30 of the old 50 are left to expire.
    assert await balance_at(database, person, now + timedelta(days=1)) == 30
    rows = await ledger(database, person)
    expired = [r for r in rows if r.kind is EntryKind.EXPIRE]
    assert len(expired) == 1
    assert expired[0].points == -30 and expired[0].balance_after == 30
    assert expired[0].reason
    assert sum(r.points for r in rows) == 30
    # Written once: asking again (or later) adds nothing.
    assert await balance_at(database, person, now + timedelta(days=2)) == 30
    assert len(await ledger(database, person)) == len(rows)
    # And the newer lot expires on its own date.
    assert await balance_at(database, person, now + YEAR) == 0
    rows = await ledger(database, person)
    assert [r.points for r in rows if r.kind is EntryKind.EXPIRE] == [-30, -30]
    assert sum(r.points for r in rows) == 0


async def test_a_spend_after_expiry_sees_only_unexpired_points(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    now = datetime.now(UTC)
    await direct(database, person, EntryKind.EARN, 50, "old", now - timedelta(days=400))
    await direct(database, person, EntryKind.EARN, 10, "new", now - timedelta(days=1))
    with pytest.raises(Exception) as refused_spend:
        await direct(database, person, EntryKind.SPEND, -11, "greedy", now)
    assert getattr(refused_spend.value, "code", None) == "CONFLICT"
    entry = await direct(database, person, EntryKind.SPEND, -10, "modest", now)
    assert entry.balance_after == 0
    rows = await ledger(database, person)
    assert [(r.kind, r.points, r.balance_after) for r in rows] == [
        (EntryKind.EARN, 50, 50),
        (EntryKind.EXPIRE, -50, 0),  # written off by the next write, before it
        (EntryKind.EARN, 10, 10),
        (EntryKind.SPEND, -10, 0),
    ]
    assert sum(r.points for r in rows) == 0


async def test_every_entry_balance_after_is_the_running_sum_when_lots_expire_together(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    person = await new_person(service_client)
    now = datetime.now(UTC)
    await direct(database, person, EntryKind.EARN, 10, "a", now - timedelta(days=3), timedelta(1))
    await direct(database, person, EntryKind.EARN, 20, "b", now - timedelta(days=2.5), timedelta(1))
    await direct(database, person, EntryKind.EARN, 5, "c", now - timedelta(hours=1))
    assert await balance_at(database, person, now) == 5
    running = 0
    for row in await ledger(database, person):
        running += row.points
        assert row.balance_after == running, (row.kind, row.points, row.balance_after)


async def test_me_shows_the_expiry_of_a_lot_in_the_history(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await direct(
        database, person, EntryKind.EARN, 40, "last-year", datetime.now(UTC) - timedelta(days=366)
    )
    await written(service_client, EARN, person, 15, "today")
    body = await gql(
        client_for(Role.CUSTOMER, subject=person),
        "{ me { points { balance history { items { kind points balanceAfter } } } } }",
    )
    assert "errors" not in body, body
    mine = body["data"]["me"]["points"]
    assert mine["balance"] == 15
    kinds = [(e["kind"], e["points"]) for e in mine["history"]["items"]]
    assert ("EXPIRE", -40) in kinds
    assert sorted(kinds) == sorted([("EARN", 40), ("EXPIRE", -40), ("EARN", 15)])
    rows = await ledger(database, person)
    assert sum(r.points for r in rows) == 15


async def test_reading_points_writes_off_an_expired_lot_once(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    await direct(
        database, person, EntryKind.EARN, 40, "last-year", datetime.now(UTC) - timedelta(days=366)
    )
    me = client_for(Role.CUSTOMER, subject=person)
    first = await gql(me, "{ me { points { balance history { items { kind points } } } } }")
    assert first["data"]["me"]["points"] == {
        "balance": 0,
        "history": {"items": [{"kind": "EXPIRE", "points": -40}, {"kind": "EARN", "points": 40}]},
    }
    results = await asyncio.gather(
        *[
            gql(client_for(Role.CUSTOMER, subject=person), "{ me { points { balance } } }")
            for _ in range(5)
        ]
    )
    assert all(r["data"]["me"]["points"]["balance"] == 0 for r in results)
    assert [r.kind for r in await ledger(database, person)] == [EntryKind.EARN, EntryKind.EXPIRE]


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", [Role.CUSTOMER, Role.ANALYST, Role.MARKETER, Role.SUPPORT, Role.COMPLIANCE]
)
@pytest.mark.parametrize("mutation", [EARN, SPEND, ADJUST], ids=["earn", "spend", "adjust"])
async def test_only_the_service_role_may_write_points(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    role: Role,
    mutation: str,
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "base")
    subject = person if role is Role.CUSTOMER else None
    body = await write(client_for(role, subject=subject), mutation, person, 10, "sneaky")
    refused(body, "FORBIDDEN")
    assert [r.idempotency_key for r in await ledger(database)] == ["base"]
    assert await balance(client_for, person) == 100


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE])
async def test_staff_read_points_of_a_profile_they_look_up_with_a_purpose(
    service_client: httpx.AsyncClient, client_for: ClientFactory, role: Role
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "e")
    await written(service_client, SPEND, person, 30, "s")
    body = await gql(client_for(role), LOOKUP_POINTS, {"id": person})
    assert "errors" not in body, body
    assert body["data"]["profile"]["points"] == {
        "balance": 70,
        "history": {
            "items": [
                {"kind": "SPEND", "points": -30, "balanceAfter": 70},
                {"kind": "EARN", "points": 100, "balanceAfter": 100},
            ]
        },
    }


async def test_the_analyst_cannot_read_points(
    service_client: httpx.AsyncClient, analyst_client: httpx.AsyncClient
) -> None:
    person = await new_person(service_client)
    await written(service_client, EARN, person, 100, "e")
    body = await gql(analyst_client, LOOKUP_POINTS, {"id": person})
    assert error_codes(body) == ["FORBIDDEN"], body
    assert body["data"]["profile"] is None
    body = await gql(analyst_client, "{ me { points { balance } } }")
    assert error_codes(body) == ["FORBIDDEN"], body


# --- audit -------------------------------------------------------------------------------------


async def test_every_points_write_is_audited_and_a_refused_spend_too(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    pid = await internal_id(database, person)
    await direct(
        database, person, EntryKind.EARN, 40, "last-year", datetime.now(UTC) - timedelta(days=366)
    )
    await written(service_client, EARN, person, 50, "e")
    await written(service_client, SPEND, person, 20, "s")
    await written(service_client, ADJUST, person, -5, "a")
    refused(await write(service_client, SPEND, person, 1000, "greedy"), "CONFLICT")
    assert await audit_records(database, "points.") == [
        ("points.earn", "ok", pid),  # the direct write, as the test operator
        ("points.expire", "ok", pid),  # written off by the next write
        ("points.earn", "ok", pid),
        ("points.spend", "ok", pid),
        ("points.adjust", "ok", pid),
        ("points.spend", "conflict", pid),
    ]


async def test_a_replay_is_recorded_as_a_replay_and_a_forbidden_write_as_refused(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    pid = await internal_id(database, person)
    await written(service_client, EARN, person, 50, "e")
    await written(service_client, EARN, person, 50, "e")
    refused(await write(client_for(Role.SUPPORT), EARN, person, 50, "x"), "FORBIDDEN")
    # Every mutation is audited; the replay changed nothing, and says so.
    assert await audit_records(database, "points.") == [
        ("points.earn", "ok", pid),
        ("points.earn", "replayed", pid),
    ]
    assert ("mutation.earnPoints", "forbidden", None) in await audit_records(database, "mutation.")


async def test_nothing_is_stored_for_a_profile_without_points(
    service_client: httpx.AsyncClient, client_for: ClientFactory, database: Database
) -> None:
    person = await new_person(service_client)
    body = await gql(client_for(Role.CUSTOMER, subject=person), MY_POINTS)
    assert body["data"]["me"]["points"] == {
        "balance": 0,
        "history": {"items": [], "pageInfo": {"endCursor": None, "hasNextPage": False}},
    }
    assert await ledger(database) == []
