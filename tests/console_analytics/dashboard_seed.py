"""A month of a coffee brand's new members for the dashboard (minimum group size 5): a cohort
that joined on the 3rd of the latest released month (over, and 30 days after it too), with
groups big enough to show and a few too small, so that every chart has numbers and some have
suppressed cells.

Who (27 people, first seen on the 3rd at noon, Shanghai time):
- tiers: 15 standard, 7 VIP (one ¥1,000 order from an article, 10 days later), 5 supreme
  (¥5,000 from a live room within the hour, ¥38 from the menu 2 days later);
- first channel: mini program 12 (the VIPs and 5 standard), official account 7 (the supremes
  and 2), video account 6, web 2 (who buy ¥10 on the web with no entry source): web is
  under 5, so it is hidden, and with it video (a lone hidden cell could be worked out);
- tags, consent choices and activity giving each measure visible and hidden cells."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from cdp.consent.models import ConsentPurpose
from cdp.db import Database
from cdp.keys.vault import Vault
from tests.support.analytics_seed import MINI_P, OA, SHANGHAI, SMS, VIDEO, WEB, names, seeding

K = 5
STANDARD_MINI, STANDARD_OA, STANDARD_VIDEO, STANDARD_WEB = (
    names("mini", 5),
    names("oa", 2),
    names("video", 6),
    names("web", 2),
)
VIP, SUPREME = names("vip", 7), names("supreme", 5)
STANDARD = STANDARD_MINI + STANDARD_OA + STANDARD_VIDEO + STANDARD_WEB


def today() -> date:
    return datetime.now(SHANGHAI).date()


def month_back(day: date, back: int) -> tuple[date, date]:
    """The first and last day of the calendar month `back` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - back
    first = date(index // 12, index % 12 + 1, 1)
    after = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return first, after - timedelta(days=1)


def released_month(day: date) -> tuple[date, date]:
    """The latest month every measure answers on `day`: over, and 30 days after it too."""
    for back in (1, 2):
        first, last = month_back(day, back)
        if last + timedelta(days=31) <= day:
            return first, last
    return month_back(day, 3)


def joined() -> datetime:
    first, _ = released_month(today())
    return datetime(first.year, first.month, 3, 12, tzinfo=SHANGHAI)


async def seed_a_month(database: Database, vault: Vault) -> None:
    start = joined()

    def later(delta: timedelta) -> datetime:
        return start + delta

    async with seeding(database, vault) as seed:
        for group, channel in (
            (VIP + STANDARD_MINI, MINI_P),
            (SUPREME + STANDARD_OA, OA),
            (STANDARD_VIDEO, VIDEO),
            (STANDARD_WEB, WEB),
        ):
            for name in group:
                await seed.join(name, start, channel)
        for name in VIP:
            await seed.buy(name, later(timedelta(days=10)), 100_000, entry="from=article&id=128")
            await seed.tag(name, "咖啡爱好者", later(timedelta(days=10)))
        for name in SUPREME:
            await seed.buy(
                name, later(timedelta(minutes=40)), 500_000, channel=VIDEO, entry="from=live&room=3"
            )
            await seed.buy(
                name, later(timedelta(days=2)), 3_800, channel=OA, entry="from=menu&type=member"
            )
            await seed.tag(name, "咖啡爱好者", later(timedelta(days=2)))
            await seed.tag(name, "复购用户", later(timedelta(days=2)))
        for name in STANDARD_WEB:
            await seed.buy(name, later(timedelta(hours=1)), 1_000, channel=WEB)
        for name in STANDARD[:8]:
            await seed.tag(name, "新客", later(timedelta(hours=2)))
        for name in STANDARD[8:11]:
            await seed.tag(name, "门店自提偏好", later(timedelta(hours=3)))
        # Marketing by SMS and in the mini program: 10 of 27 said yes; 6 refused activity
        # notifications by SMS (granted unless refused); the rest are groups too small.
        for name in STANDARD[:10]:
            await seed.choose(
                name,
                (ConsentPurpose.MARKETING, SMS, True),
                (ConsentPurpose.MARKETING, MINI_P, True),
            )
        for name in STANDARD[:6]:
            await seed.choose(name, (ConsentPurpose.ACTIVITY_NOTIFICATIONS, SMS, False))
        # Active again: within 7 days 5 standard (and the supremes' second order), within 30
        # days 3 more (and the VIPs' orders).
        for name in STANDARD_MINI:
            await seed.act(name, later(timedelta(days=3)))
        for name in STANDARD_VIDEO[:3]:
            await seed.act(name, later(timedelta(days=15)))
