"""Who analytics counts: never a person who denied ANALYTICS or was erased, and days that
are Shanghai reporting days (both databases)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cdp.auth import Role
from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.db import Database
from cdp.keys.vault import Vault
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import (
    MEASURES,
    ClientAt,
    counts,
    everything,
    measure,
    shown,
    sources,
)
from tests.support.analytics_seed import (
    MARCH,
    OA,
    ORDERS,
    SMS,
    Seed,
    seeding,
    sh,
    unreleased,
    utc,
)

# --- who is never counted ----------------------------------------------------------------------

REQUEST_ERASURE = """
mutation Request($input: RequestErasureInput!) { requestErasure(input: $input) { id status } }
"""
APPROVE_ERASURE = """
mutation Approve($input: ApproveErasureInput!) { approveErasure(input: $input) { status } }
"""


async def like_everyone(seed: Seed, name: str) -> None:
    """Join on March 5th in the Mini Program, tagged, marketing yes, two orders from an
    article on days 3 and 4, an event on day 3."""
    joined = sh("2026-03-05")
    await seed.join(name, joined)
    await seed.tag(name, "club", sh("2026-03-06"))
    await seed.choose(name, (ConsentPurpose.MARKETING, None, True))
    await seed.buy(name, joined + timedelta(days=3), 1_000, entry="from=article")
    await seed.buy(name, joined + timedelta(days=4), 1_000, entry="from=article")
    await seed.act(name, joined + timedelta(days=3))


async def test_people_denying_analytics_or_erased_are_not_counted_in_any_measure(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    joined = sh("2026-03-05")
    async with seeding(database, vault) as seed:
        for n in range(15):
            await seed.join(f"b{n}", joined)
            await seed.tag(f"b{n}", "club", sh("2026-03-06"))
        for n in range(5):
            await seed.choose(f"b{n}", (ConsentPurpose.MARKETING, None, True))
            await seed.buy(f"b{n}", joined + timedelta(days=3), 1_000, entry="from=article")
            await seed.buy(f"b{n}", joined + timedelta(days=4), 1_000, entry="from=article")
        for n in range(5, 10):
            await seed.buy(f"b{n}", joined + timedelta(days=3), 1_000, entry="from=article")
        for name in ("deny-sms", "deny-all", "deny-later", "erased"):
            await like_everyone(seed, name)
        await seed.deny_analytics("deny-sms", SMS)
        await seed.deny_analytics("deny-all", None)
        # Said yes everywhere, then no in one channel.
        await seed.choose("deny-later", (ConsentPurpose.ANALYTICS, None, True))
        await seed.choose("deny-later", (ConsentPurpose.ANALYTICS, OA, False))
        erased = seed.people["erased"].public_id

    officer_a = client_at(Role.COMPLIANCE, subject="officer-a")
    officer_b = client_at(Role.COMPLIANCE, subject="officer-b")
    body = await gql(
        officer_a,
        REQUEST_ERASURE,
        {"input": {"profileId": erased, "mode": "DELETE", "reason": "TICKET-8"}},
    )
    assert "errors" not in body, body
    body = await gql(
        officer_b, APPROVE_ERASURE, {"input": {"requestId": body["data"]["requestErasure"]["id"]}}
    )
    assert "errors" not in body, body
    assert body["data"]["approveErasure"]["status"] == "COMPLETED"
    async with database.transaction() as session:
        tombstoned = await session.scalar(
            sa.select(sa.func.count()).select_from(ORDERS).where(ORDERS.c.profile_id.is_(None))
        )
    assert tombstoned == 2  # the erased person's orders stay, for accounting, without them

    analyst = client_at(Role.ANALYST)

    def expect(people: int, buyers: int, repeat: int) -> dict[str, Any]:
        """What the measures show for `people` March members in the Mini Program, all tagged,
        `repeat` of them with marketing yes and two orders, `buyers` with at least one."""
        orders = buyers + repeat
        return {
            "tiers": ({"STANDARD": None, "VIP": None, "SUPREME": None}, people),
            "firsts": (
                {"MINI_PROGRAM": None, "OFFICIAL_ACCOUNT": None, "CHANNELS": None, "WEB": None},
                people,
            ),
            "tags": {"club": people},
            "marketing": (repeat, people, repeat / people),
            "sources": ([("article", "MINI_PROGRAM", orders, orders * 1_000, buyers)], orders),
            "conversion": (buyers, people, buyers / people),
            "repurchase": (repeat, buyers, repeat / buyers),
            "retention": (buyers, people, buyers / people),
        }

    def seen(result: Mapping[str, Any]) -> dict[str, Any]:
        rates = {(c["key"], c["channel"]): shown(c) for c in result["consentOptInRates"]}
        assert {rates[("MARKETING", c.value)] for c in Channel} == {
            rates[("MARKETING", "MINI_PROGRAM")]
        }
        return {
            "tiers": (counts(result["membersByTier"]), result["membersByTier"]["total"]),
            "firsts": (
                counts(result["membersByFirstChannel"]),
                result["membersByFirstChannel"]["total"],
            ),
            "tags": counts(result["tagCounts"]),
            "marketing": rates[("MARKETING", "MINI_PROGRAM")],
            "sources": (sources(result["ordersBySource"]), result["ordersBySource"]["totalOrders"]),
            "conversion": {c["key"]: shown(c) for c in result["conversionByChannel"]}[
                "MINI_PROGRAM"
            ],
            "repurchase": shown(result["repurchaseRate"]),
            "retention": shown(result["retention"]["day7"]),
        }

    assert seen(await everything(analyst, *MARCH)) == expect(people=15, buyers=10, repeat=5)

    # Control: one more person like them, who does not deny ANALYTICS, moves every measure
    # (in a fresh release: a released month never changes).
    async with seeding(database, vault) as seed:
        await like_everyone(seed, "counted")
    assert seen(await everything(analyst, *MARCH)) == expect(people=15, buyers=10, repeat=5)
    await unreleased(database)
    assert seen(await everything(analyst, *MARCH)) == expect(people=16, buyers=11, repeat=6)


# --- reporting days ----------------------------------------------------------------------------


async def test_a_range_is_answered_for_its_whole_shanghai_month(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for n in range(5):
            await seed.join(f"a{n}", sh("2026-01-05"))
            await seed.buy(f"a{n}", utc("2026-02-28T15:30:00"), 1_000)  # Feb 28, 23:30
            await seed.join(f"b{n}", sh("2026-01-05"))
            await seed.buy(f"b{n}", utc("2026-02-28T16:30:00"), 2_000)  # Mar 1, 00:30
            await seed.buy(f"b{n}", utc("2026-03-31T15:59:59"), 300)  # Mar 31, 23:59:59
            await seed.join(f"c{n}", sh("2026-01-05"))
            await seed.buy(f"c{n}", utc("2026-03-31T16:00:00"), 40_000)  # Apr 1, 00:00
    analyst = client_at(Role.ANALYST)

    async def orders(start: str, end: str) -> tuple[Any, ...]:
        result = await measure(analyst, "ordersBySource", start, end)
        return (*sources(result), result["totalOrders"], result["totalRevenueFen"])

    assert await orders("2026-02-01", "2026-02-28") == (
        (None, "MINI_PROGRAM", 5, 5_000, 5),
        5,
        5_000,
    )
    assert await orders("2026-03-01", "2026-03-31") == (
        (None, "MINI_PROGRAM", 10, 11_500, 5),
        10,
        11_500,
    )
    assert await orders("2026-04-01", "2026-04-30") == (
        (None, "MINI_PROGRAM", 5, 200_000, 5),
        5,
        200_000,
    )
    # A range inside a month is answered for the whole month: the same answer.
    assert await orders("2026-03-02", "2026-03-03") == await orders("2026-03-01", "2026-03-31")
    assert await orders("2026-01-10", "2026-01-10") == (None, None)  # nothing: no cells
    body = await gql(
        analyst,
        '{ analytics { ordersBySource(from: "2026-02-28", to: "2026-03-01") { totalOrders } } }',
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]  # two months: ask per month (or series)
    for name in MEASURES:
        body = await gql(
            analyst,
            f'{{ analytics {{ {name}(from: "2026-03-02", to: "2026-03-01") {MEASURES[name]} }} }}',
        )
        assert error_codes(body) == ["BAD_USER_INPUT"], name
        assert body["data"] == {"analytics": None}, body
