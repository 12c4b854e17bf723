"""Every analytics measure against hand-computed numbers on seeded data: members by tier and
by first channel, tag counts, consent opt-in rates, orders by source, conversion by channel,
repurchase rate and retention (both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cdp.auth import Role
from cdp.consent.models import DEFAULT_GRANTED, ConsentPurpose
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.orders.models import OrderStatus
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import (
    RATE,
    ClientAt,
    check_counts,
    check_sources,
    counts,
    measure,
    shown,
    sources,
)
from tests.support.analytics_seed import (
    MARCH,
    MINI_P,
    OA,
    SMS,
    VIDEO,
    WEB,
    names,
    seeding,
    sh,
    unreleased,
    utc,
)

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py); those
# over orders and audience refreshes do not yet (docs/SCALING.md, "Distributed on Citus").
CITUS = pytest.mark.citus

# --- members by tier ---------------------------------------------------------------------------


@CITUS
async def test_members_by_tier_counts_the_periods_new_members_by_their_tier(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    standard, vip, supreme = names("s", 6), names("v", 5), names("u", 7)
    async with seeding(database, vault) as seed:
        # On the edges of March in Shanghai: 00:30 on the 1st and 23:30 on the 31st are in.
        await seed.join("s0", utc("2026-02-28T16:30:00"))
        await seed.join("s1", utc("2026-03-31T15:30:00"))
        for name in standard[2:]:
            await seed.join(name, sh("2026-03-15"))
        await seed.buy("s4", sh("2026-03-16"), 500_000, status=OrderStatus.REFUNDED)
        await seed.buy("s5", sh("2026-03-16"), 50_000)
        for name in vip:
            await seed.join(name, sh("2026-03-10"))
        for name in vip[:4]:
            await seed.buy(name, sh("2026-03-11"), 100_000)
        await seed.buy("v4", sh("2026-03-11"), 60_000)
        await seed.buy("v4", sh("2026-03-12"), 40_000)
        for name in supreme:
            await seed.join(name, sh("2026-03-20"))
            await seed.buy(name, sh("2026-03-21"), 500_000)
        # Not new in March (Shanghai): Feb 28 23:30, Apr 1 00:00, January.
        await seed.join("out0", utc("2026-02-28T15:30:00"))
        await seed.join("out1", utc("2026-03-31T16:00:00"))
        await seed.buy("out1", utc("2026-03-31T16:01:00"), 500_000)
        await seed.join("out2", sh("2026-01-10"))
        await seed.buy("out2", sh("2026-01-11"), 100_000)
        # Denies ANALYTICS (in SMS only): never counted.
        await seed.join("denier", sh("2026-03-12"))
        await seed.buy("denier", sh("2026-03-13"), 100_000)
        await seed.deny_analytics("denier", SMS)

    result = await measure(client_at(Role.ANALYST), "membersByTier", *MARCH)
    assert counts(result) == {"STANDARD": 6, "VIP": 5, "SUPREME": 7}
    assert result["total"] == 18
    check_counts(result, {"STANDARD": set(standard), "VIP": set(vip), "SUPREME": set(supreme)}, 5)


# --- members by first channel ------------------------------------------------------------------


@CITUS
async def test_members_by_first_channel_counts_each_person_once_by_their_first_identity(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    mini, official, video = names("m", 7), names("a", 5), names("c", 6)
    async with seeding(database, vault) as seed:
        for name in mini[:6]:
            await seed.join(name, sh("2026-03-03"), MINI_P)
        # Seen in OA later: still a Mini Program member.
        await seed.also("m0", OA, sh("2026-03-10"))
        await seed.also("m1", OA, sh("2026-03-10"))
        # Linked in Channels first, but its Mini Program identity is older: first by linked_at.
        await seed.join("m6", sh("2026-03-12"), VIDEO)
        await seed.also("m6", MINI_P, sh("2026-03-02"))
        for name in official:
            await seed.join(name, sh("2026-03-04"), OA)
        for name in video:
            await seed.join(name, sh("2026-03-05"), VIDEO)
        await seed.also("c0", WEB, sh("2026-03-06"))
        # First seen in February, on the web only in March: not a March member.
        await seed.join("feb", sh("2026-02-20"), MINI_P)
        await seed.also("feb", WEB, sh("2026-03-08"))
        # First seen at 00:30 on April 1st in Shanghai.
        await seed.join("april", utc("2026-03-31T16:30:00"), VIDEO)
        # First seen on the web in March but denies ANALYTICS.
        await seed.join("denier", sh("2026-03-09"), WEB)
        await seed.deny_analytics("denier", MINI_P)

    result = await measure(client_at(Role.ANALYST), "membersByFirstChannel", *MARCH)
    # WEB is empty and so suppressed; alone it could be read off the total, so the smallest
    # visible cell (OFFICIAL_ACCOUNT, 5) is suppressed with it: 5 people behind the two.
    assert counts(result) == {
        "MINI_PROGRAM": 7,
        "OFFICIAL_ACCOUNT": None,
        "CHANNELS": 6,
        "WEB": None,
    }
    assert result["total"] == 18
    check_counts(
        result,
        {
            "MINI_PROGRAM": set(mini),
            "OFFICIAL_ACCOUNT": set(official),
            "CHANNELS": set(video),
            "WEB": set(),
        },
        5,
    )


# --- tag counts --------------------------------------------------------------------------------


@CITUS
async def test_tag_counts_count_the_people_tagged_in_the_period(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    people = names("t", 10)
    analyst = client_at(Role.ANALYST)
    async with seeding(database, vault) as seed:
        for name in [*people, "denier"]:
            await seed.join(name, sh("2026-01-05"))
        for name in people[:6]:
            await seed.tag(name, "club", sh("2026-03-03"))
        for name in people[:5]:
            await seed.tag(name, "newsletter", utc("2026-03-31T15:30:00"))  # Mar 31 23:30
        for name in ("t5", "t6"):
            await seed.tag(name, "newsletter", utc("2026-02-28T15:30:00"))  # Feb 28 23:30
        await seed.tag("t7", "newsletter", utc("2026-03-31T16:00:00"))  # Apr 1 00:00
        for name in people[3:]:
            await seed.tag(name, "coffee", sh("2026-03-15"))
        for name in ("t8", "t9"):
            await seed.tag(name, "old", sh("2026-02-01"))
        await seed.tag("denier", "club", sh("2026-03-03"))
        await seed.tag("denier", "coffee", sh("2026-03-03"))
        await seed.deny_analytics("denier", None)
        ids = {name: seed.people[name].public_id for name in people}

    result = await measure(analyst, "tagCounts", *MARCH)
    # People carry several tags: there is no total to subtract from.
    assert counts(result) == {"club": 6, "coffee": 7, "newsletter": 5}
    assert result["totalSuppressed"] is True
    truth = {
        "club": set(people[:6]),
        "coffee": set(people[3:]),
        "newsletter": set(people[:5]),
    }
    check_counts(result, truth, 5)

    async with seeding(database, vault) as seed:
        for name in ("t8", "t9"):
            await seed.again(name, ids[name])
            await seed.tag(name, "rare", sh("2026-03-20"))
    await unreleased(database)  # the month afresh, with the new data
    result = await measure(analyst, "tagCounts", *MARCH)
    # "rare" (2) is suppressed, and with it the smallest visible cell.
    assert counts(result) == {"club": 6, "coffee": 7, "newsletter": None, "rare": None}
    assert result["totalSuppressed"] is True
    check_counts(result, {**truth, "rare": {"t8", "t9"}}, 5)


# --- consent opt-in rates ----------------------------------------------------------------------


@CITUS
async def test_consent_opt_in_rates_follow_choices_defaults_and_choices_for_every_channel(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    members = names("p", 16)
    MK, AN, PZ, AY = (
        ConsentPurpose.MARKETING,
        ConsentPurpose.ACTIVITY_NOTIFICATIONS,
        ConsentPurpose.PERSONALIZATION,
        ConsentPurpose.ANALYTICS,
    )
    # The defaults the expectation below relies on.
    assert DEFAULT_GRANTED == {MK: False, AN: True, PZ: False, AY: True}
    async with seeding(database, vault) as seed:
        for name in members:
            await seed.join(name, sh("2026-03-10"))
        # MARKETING (opt-in): p0-p5 in every channel, p5 then out on the web; p6, p7 by SMS.
        for name in members[:5]:
            await seed.choose(name, (MK, None, True))
        await seed.choose("p5", (MK, None, True), (MK, WEB, False))
        for name in ("p6", "p7"):
            await seed.choose(name, (MK, SMS, True))
        # ACTIVITY_NOTIFICATIONS (on by default): p8-p12 out everywhere, p13 out by SMS, p0
        # says yes explicitly (still one person).
        for name in members[8:13]:
            await seed.choose(name, (AN, None, False))
        await seed.choose("p13", (AN, SMS, False))
        await seed.choose("p0", (AN, None, True))
        # PERSONALIZATION (opt-in): p0-p6 everywhere, p7-p11 in the Mini Program.
        for name in members[:7]:
            await seed.choose(name, (PZ, None, True))
        for name in members[7:12]:
            await seed.choose(name, (PZ, MINI_P, True))
        # ANALYTICS: p14 says yes explicitly.
        await seed.choose("p14", (AY, None, True))
        # Not in the period's population: a February member, and a denier of ANALYTICS.
        await seed.join("feb", sh("2026-02-10"))
        await seed.choose("feb", (MK, None, True), (PZ, None, True))
        await seed.join("denier", sh("2026-03-10"))
        await seed.choose("denier", (MK, None, True), (AN, None, False), (AY, MINI_P, False))

    cells = await measure(client_at(Role.ANALYST), "consentOptInRates", *MARCH)
    got = {(c["key"], c["channel"]): shown(c) for c in cells}
    n = 16

    def share(opted: int) -> tuple[int, int, float]:
        return (opted, n, opted / n)

    every = ["MINI_PROGRAM", "OFFICIAL_ACCOUNT", "CHANNELS", "WEB", "SMS"]
    expected: dict[tuple[str, str], tuple[int, int, float] | None] = {
        **{("MARKETING", c): share(6) for c in every},
        ("MARKETING", "WEB"): share(5),  # exactly k in, 11 out
        ("MARKETING", "SMS"): share(8),
        **{("ACTIVITY_NOTIFICATIONS", c): share(11) for c in every},  # exactly k out
        ("ACTIVITY_NOTIFICATIONS", "SMS"): share(10),
        **{("PERSONALIZATION", c): share(7) for c in every},
        ("PERSONALIZATION", "MINI_PROGRAM"): None,  # 12 in, 4 out: the 4 are under k
        # Whoever denies ANALYTICS is left out, so everyone counted is in: 0 out is under k.
        **{("ANALYTICS", c): None for c in every},
    }
    assert got == expected
    assert len(cells) == 20


# --- orders by source --------------------------------------------------------------------------


async def test_orders_by_source_count_paid_orders_revenue_and_buyers_per_from_and_channel(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    article, plain, menu = names("b", 6), names("n", 7), names("e", 5)
    analyst = client_at(Role.ANALYST)
    async with seeding(database, vault) as seed:
        for name in [*article, *plain, *menu, "denier"]:
            await seed.join(name, sh("2026-02-01"))
        for name in article[:5]:
            await seed.buy(name, sh("2026-03-05"), 1_000, entry="from=article&id=1")
        await seed.buy("b5", sh("2026-03-06"), 1_000, entry="from=article&id=2")
        await seed.buy("b5", sh("2026-03-07"), 2_500, entry="?from=article&id=2")
        # Not counted: a refund, Feb 28 23:30 and Apr 1 00:00 in Shanghai.
        await seed.buy(
            "b0", sh("2026-03-08"), 9_999, entry="from=article", status=OrderStatus.REFUNDED
        )
        await seed.buy("b1", utc("2026-02-28T15:30:00"), 7_777, entry="from=article")
        await seed.buy("b2", utc("2026-03-31T16:00:00"), 6_666, entry="from=article")
        # No `from`: three with other parameters, four with no entry at all.
        for name in plain[:3]:
            await seed.buy(name, sh("2026-03-10"), 2_000, entry="id=9")
        for name in plain[3:]:
            await seed.buy(name, sh("2026-03-10"), 2_000)
        for name in menu:
            await seed.buy(name, sh("2026-03-12"), 3_000, channel=OA, entry="from=menu&type=home")
        await seed.buy("denier", sh("2026-03-05"), 50_000, entry="from=article")
        await seed.deny_analytics("denier", WEB)

    result = await measure(analyst, "ordersBySource", *MARCH)
    assert sources(result) == [
        (None, "MINI_PROGRAM", 7, 14_000, 7),
        ("article", "MINI_PROGRAM", 7, 8_500, 6),
        ("menu", "OFFICIAL_ACCOUNT", 5, 15_000, 5),
    ]
    assert (result["totalOrders"], result["totalRevenueFen"]) == (19, 37_500)
    truth = {
        (None, "MINI_PROGRAM"): set(plain),
        ("article", "MINI_PROGRAM"): set(article),
        ("menu", "OFFICIAL_ACCOUNT"): set(menu),
    }
    check_sources(result, truth, 5)

    async with seeding(database, vault) as seed:
        for name in ("v0", "v1"):
            await seed.join(name, sh("2026-02-01"))
            await seed.buy(name, sh("2026-03-20"), 4_000, channel=VIDEO, entry="from=video")
    await unreleased(database)  # the month afresh, with the new data
    result = await measure(analyst, "ordersBySource", *MARCH)
    # Two buyers from video are suppressed, and the smallest visible cell with them (menu, 5):
    # the totals then reveal 7 orders of 7 people, never the video buyers alone.
    assert sources(result) == [
        (None, "MINI_PROGRAM", 7, 14_000, 7),
        ("article", "MINI_PROGRAM", 7, 8_500, 6),
        ("menu", "OFFICIAL_ACCOUNT", None, None, None),
        ("video", "CHANNELS", None, None, None),
    ]
    assert (result["totalOrders"], result["totalRevenueFen"]) == (21, 45_500)
    check_sources(result, {**truth, ("video", "CHANNELS"): {"v0", "v1"}}, 5)


# --- conversion by channel ---------------------------------------------------------------------


async def test_conversion_by_channel_is_first_sight_to_a_first_order_within_days(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    analyst = client_at(Role.ANALYST)
    async with seeding(database, vault) as seed:
        seen = sh("2026-03-05")
        for n in range(12):  # Mini Program: 5 buy on day 3, 2 on day 10, 1 on day 31
            await seed.join(f"g{n}", seen, MINI_P)
        for n in range(5):
            await seed.buy(f"g{n}", seen + timedelta(days=3), 1_000)
        for n in (5, 6):
            await seed.buy(f"g{n}", seen + timedelta(days=10), 1_000)
        await seed.buy("g7", seen + timedelta(days=31, hours=1), 1_000)
        seen = sh("2026-03-06")
        for n in range(10):  # Official account: 5 buy on day 29
            await seed.join(f"h{n}", seen, OA)
        for n in range(5):
            await seed.buy(f"h{n}", seen + timedelta(days=29), 1_000)
        for n in range(4):  # Channels: 2 of 4 buy
            await seed.join(f"i{n}", sh("2026-03-07"), VIDEO)
        for n in range(2):
            await seed.buy(f"i{n}", sh("2026-03-09"), 1_000)
        # First seen in February: not in March's conversion.
        await seed.join("feb", sh("2026-02-25"), MINI_P)
        await seed.buy("feb", sh("2026-03-01"), 1_000)
        await seed.join("denier", sh("2026-03-05"), MINI_P)
        await seed.buy("denier", sh("2026-03-08"), 1_000)
        await seed.deny_analytics("denier", OA)

    thirty = {c["key"]: shown(c) for c in await measure(analyst, "conversionByChannel", *MARCH)}
    assert thirty == {
        "MINI_PROGRAM": (7, 12, 7 / 12),
        "OFFICIAL_ACCOUNT": (5, 10, 0.5),
        "CHANNELS": None,  # 2 of 4
        "WEB": None,  # nobody
    }
    week = {
        c["key"]: shown(c) for c in await measure(analyst, "conversionByChannel", *MARCH, days=7)
    }
    assert week == {
        "MINI_PROGRAM": (5, 12, 5 / 12),
        "OFFICIAL_ACCOUNT": None,  # 0 of 10
        "CHANNELS": None,
        "WEB": None,
    }
    for days in (0, 366):
        body = await gql(
            analyst,
            f'{{ analytics {{ conversionByChannel(from: "2026-03-01", to: "2026-03-31", '
            f"days: {days}) {RATE} }} }}",
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_refunded_order_is_not_a_conversion(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    seen = sh("2026-03-06")
    async with seeding(database, vault) as seed:
        for n in range(10):
            await seed.join(f"h{n}", seen, OA)
        for n in range(5):
            await seed.buy(f"h{n}", seen + timedelta(days=2), 1_000)
        for n in range(5, 10):
            await seed.buy(f"h{n}", seen + timedelta(days=2), 1_000, status=OrderStatus.REFUNDED)
    cells = await measure(client_at(Role.ANALYST), "conversionByChannel", *MARCH)
    assert {c["key"]: shown(c) for c in cells}["OFFICIAL_ACCOUNT"] == (5, 10, 0.5)


async def test_an_order_half_a_second_inside_thirty_days_converts_on_both_databases(
    database: Database, vault: Vault, client_at: ClientAt, backend: str, request: Any
) -> None:
    seen = sh("2026-03-05", "10:00:00.900000")
    async with seeding(database, vault) as seed:
        for n in range(10):
            await seed.join(f"h{n}", seen, OA)
        for n in range(5):
            await seed.buy(f"h{n}", seen + timedelta(days=30, seconds=-0.5), 1_000)
    cells = await measure(client_at(Role.ANALYST), "conversionByChannel", *MARCH)
    assert {c["key"]: shown(c) for c in cells}["OFFICIAL_ACCOUNT"] == (5, 10, 0.5)


# --- repurchase rate ---------------------------------------------------------------------------


async def test_repurchase_rate_is_two_or_more_paid_orders_over_at_least_one(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    repeat, once = names("q", 6), names("w", 7)
    async with seeding(database, vault) as seed:
        for name in [*repeat, *once, "refunded", "denier"]:
            await seed.join(name, sh("2026-01-05"))
        for day in ("03-02", "03-03", "03-04"):
            await seed.buy("q0", sh(f"2026-{day}"), 1_000)
        await seed.buy("q1", sh("2026-03-02"), 1_000)
        await seed.buy("q1", sh("2026-03-09"), 1_000, status=OrderStatus.SHIPPED)
        await seed.buy("q2", sh("2026-03-02"), 1_000)
        await seed.buy("q2", sh("2026-03-09"), 1_000, status=OrderStatus.COMPLETED)
        for name in repeat[3:]:
            await seed.buy(name, sh("2026-03-02"), 1_000)
            await seed.buy(name, sh("2026-03-30"), 1_000)
        for name in once:
            await seed.buy(name, sh("2026-03-15"), 1_000)
        # A second order that does not count: refunded, Apr 1 00:30, Feb 28 23:30 (Shanghai).
        await seed.buy("w0", sh("2026-03-16"), 1_000, status=OrderStatus.REFUNDED)
        await seed.buy("w1", utc("2026-03-31T16:30:00"), 1_000)
        await seed.buy("w2", utc("2026-02-28T15:30:00"), 1_000)
        await seed.buy("refunded", sh("2026-03-15"), 1_000, status=OrderStatus.REFUNDED)
        await seed.buy("denier", sh("2026-03-02"), 1_000)
        await seed.buy("denier", sh("2026-03-03"), 1_000)
        await seed.deny_analytics("denier", None)

    rate = await measure(client_at(Role.ANALYST), "repurchaseRate", *MARCH)
    assert rate["key"] == "repurchase"
    assert shown(rate) == (6, 13, 6 / 13)


# --- retention ---------------------------------------------------------------------------------


async def test_retention_counts_new_members_active_after_their_first_day_within_7_and_30_days(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    joined = sh("2026-03-10")
    async with seeding(database, vault) as seed:
        for n in range(16):
            await seed.join(f"r{n}", joined)
        for n in range(5):  # an event on day 3: both
            await seed.act(f"r{n}", joined + timedelta(days=3))
        for n in (5, 6):  # an order on day 5: both
            await seed.buy(f"r{n}", joined + timedelta(days=5), 1_000)
        for n in (7, 8, 9, 10):  # an event on day 20: 30 days only
            await seed.act(f"r{n}", joined + timedelta(days=20))
        for n in (11, 12):  # only on their first day: neither
            await seed.act(f"r{n}", joined + timedelta(hours=2))
            await seed.buy(f"r{n}", joined + timedelta(hours=3), 1_000)
        await seed.act("r13", joined + timedelta(days=40))  # too late: neither
        # r14, r15: nothing. Not in March's cohort: February and April 1st 00:30 members, and
        # a denier.
        await seed.join("feb", sh("2026-02-27"))
        await seed.act("feb", sh("2026-03-03"))
        await seed.join("april", utc("2026-03-31T16:30:00"))
        await seed.act("april", sh("2026-04-03"))
        await seed.join("denier", joined)
        await seed.act("denier", joined + timedelta(days=3))
        await seed.deny_analytics("denier", VIDEO)

    result = await measure(client_at(Role.ANALYST), "retention", *MARCH)
    assert result["day7"]["key"] == "day7" and result["day30"]["key"] == "day30"
    assert shown(result["day7"]) == (7, 16, 7 / 16)
    assert shown(result["day30"]) == (11, 16, 11 / 16)


async def test_an_event_half_a_second_inside_seven_days_retains_on_both_databases(
    database: Database, vault: Vault, client_at: ClientAt, backend: str, request: Any
) -> None:
    joined = sh("2026-03-05", "10:00:00.900000")
    async with seeding(database, vault) as seed:
        for n in range(10):
            await seed.join(f"r{n}", joined)
        for n in range(5):
            await seed.act(f"r{n}", joined + timedelta(days=7, seconds=-0.5))
    result = await measure(client_at(Role.ANALYST), "retention", *MARCH)
    assert shown(result["day7"]) == (5, 10, 0.5)
