"""The articles' audiences over a town of people whose members are computed by hand: a full
refresh finds exactly them and is idempotent, every entry and exit is history with its why,
the updater follows behaviour as it changes, and erased or suppressed people are never
members (both databases)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cdp.audiences.demo import (
    CORE_HEALTH,
    DIAMOND_BIRTHDAY,
    MULTI_APP,
    SLEEPING,
    define_demo_audiences,
)
from cdp.audiences.membership import Applied, refresh
from cdp.audiences.models import Audience
from cdp.audiences.updates import AudienceUpdater
from cdp.channels import Channel
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.vault import Vault
from cdp.profiles.models import Tier
from cdp.suppression.models import (
    ErasureMode,
    ErasureRequest,
    ErasureStatus,
    Suppression,
    SuppressionKind,
)
from cdp.suppression.service import hash_of
from tests.conftest import TEST_KEYRING, audited
from tests.support.audience_town import (
    TOWNSFOLK,
    Town,
    building,
    days_ago,
    history_of,
    members_of,
    month_in_shanghai,
    queued,
)

# The core flows run on a Citus cluster too (tests/support/citus.py).
pytestmark = pytest.mark.citus

OA = Channel.OFFICIAL_ACCOUNT


async def the_town(database: Database, vault: Vault) -> Town:
    """Who is in which audience, by hand:
    核心养生用户 (3+ health reads): reader. 沉睡用户 (no visit in 30 days): sleeper, diamond.
    多端活跃 (2+ apps in 30 days): multi. 钻石会员生日月 (SUPREME, born this month): diamond."""
    async with building(database, vault) as town:
        await town.joins("reader")
        await town.reads("reader", "health", times=3, days=5)
        await town.joins("almost")  # two health reads and a coffee one: not the core
        await town.reads("almost", "health", times=2, days=5)
        await town.reads("almost", "coffee", days=5)
        await town.joins("sleeper", apps=2)  # in two apps, but 40 days ago
        await town.does("sleeper", days=40)
        await town.joins("newcomer", days=3)  # joined 3 days ago, no event: not sleeping
        await town.joins("multi", apps=2)
        await town.seen_in("multi", Channel.MINI_PROGRAM, days=2)
        await town.seen_in("multi", OA, days=10)
        await town.joins("diamond", days=200)
        await town.is_tier("diamond", Tier.SUPREME)
        await town.born("diamond", month_in_shanghai())
        await town.joins("diamond_later")  # top tier, born next month
        await town.is_tier("diamond_later", Tier.SUPREME)
        await town.born("diamond_later", month_in_shanghai(1))
        await town.does("diamond_later", days=1)
        await town.joins("vip_now")  # born this month, but VIP
        await town.is_tier("vip_now", Tier.VIP)
        await town.born("vip_now", month_in_shanghai())
        await town.does("vip_now", days=1)
        for name in ("reader", "almost", "multi"):
            await town.does(name, days=1)
    return town


EXPECTED = {
    CORE_HEALTH: {"reader"},
    SLEEPING: {"sleeper", "diamond"},
    MULTI_APP: {"multi"},
    DIAMOND_BIRTHDAY: {"diamond"},
}


async def define_all(database: Database) -> None:
    async with audited(database) as session:
        await define_demo_audiences(session=session, actor=TOWNSFOLK, settings=database.settings)


async def refresh_all(database: Database) -> Applied:
    total = Applied()
    async with audited(database) as session:
        for audience in (await session.scalars(sa.select(Audience))).all():
            total += await refresh(session=session, audience=audience, settings=database.settings)
    return total


async def test_the_articles_audiences_hold_exactly_the_people_computed_by_hand(
    database: Database, vault: Vault
) -> None:
    town = await the_town(database, vault)
    await define_all(database)
    for name, expected in EXPECTED.items():
        assert await members_of(database, town, name) == expected, name
    async with database.transaction() as session:
        counts = dict(
            (await session.execute(sa.select(Audience.name, Audience.member_count))).all()
        )
    assert counts == {name: len(people) for name, people in EXPECTED.items()}


async def test_a_refresh_run_twice_changes_nothing_and_writes_no_history(
    database: Database, vault: Vault
) -> None:
    town = await the_town(database, vault)
    await define_all(database)
    before = {name: await history_of(database, town, name) for name in EXPECTED}
    assert await refresh_all(database) == Applied(0, 0)
    assert {name: await history_of(database, town, name) for name in EXPECTED} == before
    assert sorted(before[SLEEPING]) == [
        ("diamond", "ENTERED", "MATCHES", "REFRESH"),
        ("sleeper", "ENTERED", "MATCHES", "REFRESH"),
    ]


async def test_the_updater_follows_behaviour_shortly_after_it_commits(
    database: Database, vault: Vault
) -> None:
    town = await the_town(database, vault)
    await define_all(database)
    updater = AudienceUpdater(database.settings, database, KeyringSource.fixed(TEST_KEYRING))
    await updater.drain()  # what seeding the town queued: nothing changes
    assert await queued(database) == []
    async with building(database, vault, town):
        await town.reads("almost", "health")  # a third health read
        await town.does("sleeper")  # back after 40 days
    assert set(await queued(database)) == {town.people["almost"].id, town.people["sleeper"].id}
    assert await updater.drain() == Applied(entered=1, left=1)
    assert await queued(database) == []
    assert await members_of(database, town, CORE_HEALTH) == {"reader", "almost"}
    assert await members_of(database, town, SLEEPING) == {"diamond"}
    assert (await history_of(database, town, CORE_HEALTH))[-1] == (
        "almost",
        "ENTERED",
        "MATCHES",
        "UPDATE",
    )
    assert (await history_of(database, town, SLEEPING))[-1] == (
        "sleeper",
        "LEFT",
        "NO_LONGER_MATCHES",
        "UPDATE",
    )
    # The counts moved with them, and a full refresh agrees with the updater.
    async with database.transaction() as session:
        count = await session.scalar(
            sa.select(Audience.member_count).where(Audience.name == CORE_HEALTH)
        )
    assert count == 2
    assert await refresh_all(database) == Applied(0, 0)


async def test_a_write_that_rolls_back_queues_nobody(database: Database, vault: Vault) -> None:
    town = await the_town(database, vault)
    await AudienceUpdater(database.settings, database, KeyringSource.fixed(TEST_KEYRING)).drain()
    try:
        async with building(database, vault, town):
            await town.reads("almost", "health")
            raise RuntimeError("the request failed")
    except RuntimeError:
        pass
    assert await queued(database) == []


async def test_erased_and_suppressed_people_are_never_members(
    database: Database, vault: Vault
) -> None:
    town = await the_town(database, vault)
    await define_all(database)
    async with audited(database) as session:
        # An approved erasure of the sleeper is running; the diamond's UnionID is suppressed.
        session.add(
            ErasureRequest(
                profile_id=town.people["sleeper"].id or 0,
                mode=ErasureMode.ANONYMIZE,
                status=ErasureStatus.EXECUTING,
                reason="test",
                requested_by="compliance-1",
                due_at=days_ago(-10),
            )
        )
        union = hash_of(vault, SuppressionKind.UNION_ID, "u_diamond")
        session.add(Suppression(kind=SuppressionKind.UNION_ID, bidx=union, request_id=1))
    assert await refresh_all(database) == Applied(0, 3)
    assert await members_of(database, town, SLEEPING) == set()
    assert await members_of(database, town, DIAMOND_BIRTHDAY) == set()
    assert sorted(await history_of(database, town, SLEEPING))[:2] == [
        ("diamond", "ENTERED", "MATCHES", "REFRESH"),
        ("diamond", "LEFT", "EXCLUDED", "REFRESH"),
    ]
    # And the updater does not bring them back when they act.
    async with building(database, vault, town):
        await town.does("diamond", days=40)
    updater = AudienceUpdater(database.settings, database, KeyringSource.fixed(TEST_KEYRING))
    assert await updater.drain() == Applied(0, 0)
    assert await members_of(database, town, DIAMOND_BIRTHDAY) == set()
