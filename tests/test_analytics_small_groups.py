"""Small groups in analytics: cells under the minimum group size k are suppressed, with
complementary suppression so no total gives them away, and k is a setting (both databases)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from cdp.auth import Role
from cdp.channels import Channel
from cdp.config import ConfigError, load_settings
from cdp.db import Database
from cdp.keys.vault import Vault
from tests.conftest import ClientFactory, gql, make_settings
from tests.support.analytics_measures import (
    BREAKDOWN,
    ClientAt,
    check_counts,
    check_sources,
    counts,
    measure,
    sources,
)
from tests.support.analytics_seed import (
    MARCH,
    MINI_P,
    OA,
    VIDEO,
    WEB,
    Seed,
    names,
    seeding,
    sh,
    unreleased,
)

# --- suppression -------------------------------------------------------------------------------


async def test_small_groups_are_suppressed_and_cannot_be_recovered_from_totals_or_siblings(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    """One cohort in each of four months, each a different shape of small cells (k = 5)."""
    tiers: dict[str, dict[str, set[str]]] = {}
    firsts: dict[str, dict[str, set[str]]] = {}

    async def cohort(seed: Seed, day: str, shape: Mapping[tuple[str, Channel], int]) -> None:
        tiers[day] = {"STANDARD": set(), "VIP": set(), "SUPREME": set()}
        firsts[day] = {c.value: set() for c in (MINI_P, OA, VIDEO, WEB)}
        for (tier, channel), n in shape.items():
            for i in range(n):
                name = f"{day}-{tier}-{channel.value}-{i}"
                await seed.join(name, sh(day), channel)
                fen = {"STANDARD": 0, "VIP": 100_000, "SUPREME": 500_000}[tier]
                if fen:
                    await seed.buy(name, sh(day, "13:00"), fen)
                tiers[day][tier].add(name)
                firsts[day][channel.value].add(name)

    async with seeding(database, vault) as seed:
        # Exactly one small cell (SUPREME, 4 = k-1): its smallest sibling goes with it.
        await cohort(
            seed,
            "2026-05-01",
            {
                ("STANDARD", MINI_P): 6,
                ("VIP", MINI_P): 5,
                ("VIP", OA): 2,
                ("SUPREME", VIDEO): 2,
                ("SUPREME", OA): 2,
            },
        )
        # A small cell whose only suppressed sibling is empty: hiding the empty cell hides
        # nothing, so the last visible cell goes too.
        await cohort(seed, "2026-06-02", {("STANDARD", MINI_P): 4, ("SUPREME", MINI_P): 6})
        # Everyone in one small cell: the total is under k and suppressed.
        await cohort(seed, "2026-07-03", {("VIP", WEB): 4})
        # Exactly k everywhere: nothing hidden.
        await cohort(
            seed,
            "2026-08-04",
            {("STANDARD", MINI_P): 5, ("VIP", OA): 5, ("SUPREME", VIDEO): 5, ("SUPREME", WEB): 0},
        )

    analyst = client_at(Role.ANALYST)
    expected_tiers: dict[str, tuple[dict[str, int | None], int | None]] = {
        "2026-05-01": ({"STANDARD": None, "VIP": 7, "SUPREME": None}, 17),
        "2026-06-02": ({"STANDARD": None, "VIP": None, "SUPREME": None}, 10),
        "2026-07-03": ({"STANDARD": None, "VIP": None, "SUPREME": None}, None),
        "2026-08-04": ({"STANDARD": 5, "VIP": 5, "SUPREME": 5}, 15),
    }
    expected_firsts: dict[str, tuple[dict[str, int | None], int | None]] = {
        # 2 + 4 + 0 people in three small cells: 6 behind them, so they shield each other.
        "2026-05-01": (
            {"MINI_PROGRAM": 11, "OFFICIAL_ACCOUNT": None, "CHANNELS": None, "WEB": None},
            17,
        ),
        # Three empty cells (0 behind them): the Mini Program cell is hidden too.
        "2026-06-02": (
            {"MINI_PROGRAM": None, "OFFICIAL_ACCOUNT": None, "CHANNELS": None, "WEB": None},
            10,
        ),
        "2026-07-03": (
            {"MINI_PROGRAM": None, "OFFICIAL_ACCOUNT": None, "CHANNELS": None, "WEB": None},
            None,
        ),
        # WEB empty: the smallest visible goes with it (the first of the fives, MINI_PROGRAM).
        "2026-08-04": (
            {"MINI_PROGRAM": None, "OFFICIAL_ACCOUNT": 5, "CHANNELS": 5, "WEB": None},
            15,
        ),
    }
    for day in tiers:
        by_tier = await measure(analyst, "membersByTier", day, day)
        assert (counts(by_tier), by_tier["total"]) == expected_tiers[day], day
        check_counts(by_tier, tiers[day], 5)
        by_first = await measure(analyst, "membersByFirstChannel", day, day)
        assert (counts(by_first), by_first["total"]) == expected_firsts[day], day
        check_counts(by_first, firsts[day], 5)


async def test_order_sources_with_one_small_cell_and_one_sibling_hide_both_cells(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    analyst = client_at(Role.ANALYST)
    async with seeding(database, vault) as seed:
        for n in range(3):
            await seed.join(f"a{n}", sh("2026-01-05"))
            await seed.buy(f"a{n}", sh("2026-03-03"), 1_000, entry="from=article")
    result = await measure(analyst, "ordersBySource", *MARCH)
    # One cell of three buyers: the totals would show it, so they are suppressed too.
    assert sources(result) == [("article", "MINI_PROGRAM", None, None, None)]
    assert result["totalSuppressed"] is True
    check_sources(result, {("article", "MINI_PROGRAM"): {"a0", "a1", "a2"}}, 5)

    async with seeding(database, vault) as seed:
        for n in range(8):
            await seed.join(f"n{n}", sh("2026-01-05"))
            await seed.buy(f"n{n}", sh("2026-03-04"), 2_000)
    await unreleased(database)  # the month afresh, with the new data
    result = await measure(analyst, "ordersBySource", *MARCH)
    # The only sibling is hidden with it; the totals cover 11 buyers.
    assert sources(result) == [
        (None, "MINI_PROGRAM", None, None, None),
        ("article", "MINI_PROGRAM", None, None, None),
    ]
    assert (result["totalOrders"], result["totalRevenueFen"]) == (11, 19_000)
    truth = {
        ("article", "MINI_PROGRAM"): {"a0", "a1", "a2"},
        (None, "MINI_PROGRAM"): set(names("n", 8)),
    }
    check_sources(result, truth, 5)


async def test_the_suppressed_order_sources_together_hold_k_distinct_buyers_or_totals_hide(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for n in range(3):  # the same three people buy from an article and from the menu
            await seed.join(f"x{n}", sh("2026-01-05"))
            await seed.buy(f"x{n}", sh("2026-03-03"), 10_000, entry="from=article")
            await seed.buy(f"x{n}", sh("2026-03-04"), 20_000, entry="from=menu")
        for n in range(10):
            await seed.join(f"y{n}", sh("2026-01-05"))
            await seed.buy(f"y{n}", sh("2026-03-05"), 1_000, channel=WEB)
    result = await measure(client_at(Role.ANALYST), "ordersBySource", *MARCH)
    assert sources(result)[0] == (None, "WEB", 10, 10_000, 10)
    check_sources(
        result,
        {
            ("article", "MINI_PROGRAM"): {"x0", "x1", "x2"},
            ("menu", "MINI_PROGRAM"): {"x0", "x1", "x2"},
            (None, "WEB"): set(names("y", 10)),
        },
        5,
    )


async def test_a_lone_person_cannot_be_recovered_by_differencing_two_periods(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for tier, fen in (("STANDARD", 0), ("VIP", 100_000), ("SUPREME", 500_000)):
            for n in range(6):
                await seed.join(f"{tier}{n}", sh("2026-03-10"))
                if fen:
                    await seed.buy(f"{tier}{n}", sh("2026-03-11"), fen)
        await seed.join("lone", sh("2026-03-31"))  # the only member who joined on the 31st
        await seed.buy("lone", sh("2026-03-31", "13:00"), 500_000)
    analyst = client_at(Role.ANALYST)
    month = await measure(analyst, "membersByTier", "2026-03-01", "2026-03-31")
    but_last = await measure(analyst, "membersByTier", "2026-03-01", "2026-03-30")
    recovered = {
        key: (counts(month)[key] or 0) - (counts(but_last)[key] or 0) for key in counts(month)
    }
    shown_both = all(v is not None for v in [*counts(month).values(), *counts(but_last).values()])
    # Either some cell is hidden in one of the two periods, or the difference is not a group
    # of fewer than k people.
    assert not shown_both or not 0 < sum(recovered.values()) < 5, recovered


# --- k -----------------------------------------------------------------------------------------


def test_the_minimum_group_size_defaults_to_ten_and_is_never_below_five() -> None:
    url = "sqlite+aiosqlite:///unused.db"
    assert make_settings(url).analytics_min_group_size == 10
    assert make_settings(url, analytics_min_group_size=5).analytics_min_group_size == 5
    for k in (4, 1, 0, -5):
        with pytest.raises(ConfigError, match="ANALYTICS_MIN_GROUP_SIZE"):
            make_settings(url, analytics_min_group_size=k)
    with pytest.raises(ConfigError, match="CDP_ANALYTICS_MIN_GROUP_SIZE"):
        load_settings({"CDP_ANALYTICS_MIN_GROUP_SIZE": "4", "CDP_DATABASE_URL": url})
    assert load_settings({"CDP_ANALYTICS_MIN_GROUP_SIZE": "7"}).analytics_min_group_size == 7


async def test_the_minimum_group_size_is_configurable(
    database: Database, vault: Vault, client_at: ClientAt, client_for: ClientFactory
) -> None:
    async with seeding(database, vault) as seed:
        for n in range(7):
            await seed.join(f"s{n}", sh("2026-03-10"))
        for n in range(12):
            await seed.join(f"v{n}", sh("2026-03-11"))
            await seed.buy(f"v{n}", sh("2026-03-12"), 100_000)

    async def read(client: httpx.AsyncClient) -> tuple[int, dict[str, int | None], int | None]:
        body = await gql(
            client,
            f'{{ analytics {{ minimumGroupSize membersByTier(from: "2026-03-01", '
            f'to: "2026-03-31") {BREAKDOWN} }} }}',
        )
        assert "errors" not in body, body
        result = body["data"]["analytics"]
        return (
            result["minimumGroupSize"],
            counts(result["membersByTier"]),
            result["membersByTier"]["total"],
        )

    # Default k = 10: STANDARD (7) and the empty SUPREME hide together, 7 behind them < 10,
    # so VIP goes too; the total (19) stays.
    assert await read(client_for(Role.ANALYST)) == (
        10,
        {"STANDARD": None, "VIP": None, "SUPREME": None},
        19,
    )
    # k = 7: STANDARD is exactly k; the empty SUPREME alone takes STANDARD (smallest) with it.
    assert await read(client_at(Role.ANALYST, k=7)) == (
        7,
        {"STANDARD": None, "VIP": 12, "SUPREME": None},
        19,
    )
    assert await read(client_at(Role.ANALYST, k=5)) == (
        5,
        {"STANDARD": None, "VIP": 12, "SUPREME": None},
        19,
    )
    # k = 13: every cell is small, the total (19) is not.
    assert await read(client_at(Role.ANALYST, k=13)) == (
        13,
        {"STANDARD": None, "VIP": None, "SUPREME": None},
        19,
    )
    assert await read(client_at(Role.ANALYST, k=20)) == (
        20,
        {"STANDARD": None, "VIP": None, "SUPREME": None},
        None,
    )
