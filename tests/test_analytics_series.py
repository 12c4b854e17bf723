"""The measures over time the articles ask for, against hand-counted answers (k = 5, both
databases): each period whole, published from released days, never one person."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from cdp.analytics.releases import AnalyticsRelease
from cdp.analytics.series import Measure, release_recent
from cdp.auth import Role
from cdp.db import Database
from cdp.keys.vault import Vault
from tests.conftest import error_codes, gql
from tests.support.analytics_measures import ClientAt
from tests.support.analytics_seed import MINI_P, OA, PROFILES, names, seeding, sh
from tests.support.analytics_series import (
    by_start,
    describe,
    event,
    funnel_of,
    series_of,
    visible,
)

ALL_NONE = None
RELEASES = AnalyticsRelease.__table__  # type: ignore[attr-defined]


async def test_menu_clicks_multi_app_interaction_and_active_hours_count_people_per_day(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("m", 11):
            await seed.join(name, sh("2026-02-01"))
        for name in names("m", 6):  # click menu item M1 in the official account at 09:30
            await event(
                seed,
                name,
                "wechat.menu_click",
                sh("2026-03-02", "09:30"),
                OA,
                properties={"push": "wechat.menu_click", "key": "M1"},
            )
            await event(seed, name, "page_view", sh("2026-03-02", "21:10"), MINI_P)
        await event(
            seed,
            "m0",
            "wechat.menu_click",
            sh("2026-03-02", "09:40"),
            OA,
            properties={"push": "wechat.menu_click", "key": "M1"},
        )
        for name in names("m", 11)[6:]:  # in the official account, no click
            await event(seed, name, "article_read", sh("2026-03-02", "09:30"), OA)
        # One person alone on Wednesday: a click, two apps, at 03:00.
        await event(
            seed,
            "m1",
            "wechat.menu_click",
            sh("2026-03-04", "03:00"),
            OA,
            properties={"push": "wechat.menu_click", "key": "M1"},
        )
        await event(seed, "m1", "page_view", sh("2026-03-04", "03:05"), MINI_P)
    analyst = client_at(Role.ANALYST)

    days = await series_of(analyst, "MENU_CLICKS", "DAY", "2026-03-02", "2026-03-04")
    # 11 active in the official account, 6 clicked M1 (7 clicks), 12 events there.
    assert by_start(days) == {
        "2026-03-02": {"M1": (11, 6, 7, 12)},
        "2026-03-03": {"M1": ALL_NONE},
        "2026-03-04": {"M1": ALL_NONE},  # one person: hidden
    }
    week = await series_of(analyst, "MENU_CLICKS", "WEEK", "2026-03-04", "2026-03-04")
    # The week sums its shown days only: Wednesday's lone click is left out, and says so.
    assert [p["starts"] for p in week] == ["2026-03-02"]
    assert by_start(week) == {"2026-03-02": {"M1": (11, 6, 7, 12, "partial")}}

    multi = await series_of(analyst, "MULTI_APP_INTERACTION", "DAY", "2026-03-02", "2026-03-04")
    assert by_start(multi) == {
        "2026-03-02": {"all": (11, 6, 18, 0)},
        "2026-03-03": {"all": ALL_NONE},
        "2026-03-04": {"all": ALL_NONE},
    }
    hours = await series_of(analyst, "ACTIVE_HOURS", "DAY", "2026-03-02", "2026-03-04")
    assert visible(hours) == {"2026-03-02": {"09": (11, None, 12, 0), "21": (6, None, 6, 0)}}
    assert len(hours[0]["cells"]) == 24


async def test_follow_conversion_and_fan_retention_hide_a_month_that_would_give_one_follower_away(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in [*names("f", 10), "lone", *names("g", 10)]:
            await seed.join(name, sh("2026-03-01"))
        for name in names("f", 10):
            await event(
                seed,
                name,
                "wechat.subscribe",
                sh("2026-04-07", "10:00"),
                OA,
                properties={"push": "wechat.subscribe", "scene": "poster"},
            )
        for name in names("f", 5):
            await seed.buy(name, sh("2026-04-10"), 1_000)
        for name in names("f", 10)[5:]:
            await event(seed, name, "wechat.unsubscribe", sh("2026-04-20"), OA)
        # The only follower of the 30th, who buys two days later.
        await event(
            seed,
            "lone",
            "wechat.subscribe",
            sh("2026-04-30", "10:00"),
            OA,
            properties={"push": "wechat.subscribe", "scene": "poster"},
        )
        await seed.buy("lone", sh("2026-05-02"), 1_000)
        for name in names("g", 10):
            await event(
                seed,
                name,
                "wechat.subscribe",
                sh("2026-05-12", "10:00"),
                OA,
                properties={"push": "wechat.subscribe", "scene": "poster"},
            )
        for name in names("g", 5):
            await seed.buy(name, sh("2026-06-20"), 1_000)  # 39 days later: not within 30
            await seed.buy(name, sh("2026-05-13"), 1_000)
    analyst = client_at(Role.ANALYST)

    days = await series_of(analyst, "FOLLOW_CONVERSION", "DAY", "2026-04-07", "2026-04-30")
    assert visible(days) == {"2026-04-07": {"poster": (10, 5, 10, 0)}}
    assert by_start(days)["2026-04-30"] == {"poster": None}
    months = await series_of(analyst, "FOLLOW_CONVERSION", "MONTH", "2026-04-01", "2026-05-31")
    # April would be 11 and 6: less the 7th's 10 and 5, the lone follower and their order.
    assert by_start(months) == {
        "2026-04-01": {"poster": None},
        "2026-05-01": {"poster": (10, 5, 10, 0)},
    }
    weeks = await series_of(analyst, "FOLLOW_CONVERSION", "WEEK", "2026-04-06", "2026-04-12")
    assert by_start(weeks) == {"2026-04-06": {"poster": (10, 5, 10, 0)}}

    kept = await series_of(analyst, "FAN_RETENTION", "MONTH", "2026-04-01", "2026-05-31")
    # April gives the lone follower away; in May everyone stayed (nobody on one side): a key
    # never shown in the answer is not named.
    assert by_start(kept) == {"2026-04-01": {}, "2026-05-01": {}}
    kept_days = await series_of(analyst, "FAN_RETENTION", "DAY", "2026-04-07", "2026-04-07")
    assert by_start(kept_days) == {"2026-04-07": {"poster": (10, 5, 10, 0)}}
    # The 7-day conversion is its own release: g0-g4 bought the day after.
    quick = await series_of(
        analyst, "FOLLOW_CONVERSION", "MONTH", "2026-05-01", "2026-05-31", ", days: 7"
    )
    assert by_start(quick) == {"2026-05-01": {"poster": (10, 5, 10, 0)}}


async def test_entry_conversion_repurchase_and_funnels_count_what_followed_within_the_window(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in [*names("e", 10), *names("r", 5)]:
            await seed.join(name, sh("2026-05-01"))
        for name in names("e", 10):
            await event(seed, name, "article_read", sh("2026-06-09", "09:00"), OA)
            await event(
                seed,
                name,
                "page_view",
                sh("2026-06-09", "10:00"),
                MINI_P,
                entry="from=article&type=news&id=42",
            )
        for name in names("e", 5):
            await seed.buy(name, sh("2026-06-12"), 1_000, entry="from=article")
            await seed.buy(name, sh("2026-06-20"), 1_000, entry="from=article")
        for name in names("r", 5):
            await seed.buy(name, sh("2026-06-12"), 1_000, entry="from=article")
    analyst = client_at(Role.ANALYST)

    entries = await series_of(analyst, "ENTRY_CONVERSION", "DAY", "2026-06-09", "2026-06-09")
    assert by_start(entries) == {"2026-06-09": {"article": (10, 5, 10, 0)}}
    deep = await series_of(
        analyst, "ENTRY_CONVERSION", "MONTH", "2026-06-09", "2026-06-09", ", entryDepth: ID"
    )
    assert by_start(deep) == {"2026-06-01": {"article|news|42": (10, 5, 10, 0)}}

    again = await series_of(analyst, "REPURCHASE", "DAY", "2026-06-12", "2026-06-20")
    # On the 12th 10 buyers from an article, 5 of whom bought again on the 20th (within 30
    # days); on the 20th those 5, none again: everyone on one side, hidden.
    assert by_start(again)["2026-06-12"] == {"article": (10, 5, 10, 0)}
    assert by_start(again)["2026-06-20"] == {"article": None}
    month = await series_of(analyst, "REPURCHASE", "MONTH", "2026-06-01", "2026-06-30")
    # June would be 15 buyer-days, 5 again: the 20th's hidden 5 (none again) are a run of
    # their own, of k or none on each side: shown.
    assert by_start(month) == {"2026-06-01": {"article": (15, 5, 15, 0)}}

    steps = [{"event": "article_read", "channel": "OFFICIAL_ACCOUNT"}, {"order": True}]
    funnel = await funnel_of(analyst, steps, "DAY", "2026-06-09", "2026-06-09")
    assert by_start(funnel) == {"2026-06-09": {"1": (10, None, 0, 0), "2": (10, 5, 0, 0)}}
    viewed = [
        {"event": "article_read"},
        {"event": "page_view", "channel": "MINI_PROGRAM"},
        {"order": True},
    ]
    three = await funnel_of(analyst, viewed, "WEEK", "2026-06-09", "2026-06-09")
    # Everyone went on to the mini-program: nobody dropped off, so the step is hidden.
    assert by_start(three) == {"2026-06-08": {"1": (10, None, 0, 0), "2": None, "3": (10, 5, 0, 0)}}
    # Out of order (an order, then reading) nobody reaches the second step; the 12th's 10
    # buyers and the 20th's 5 enter.
    backwards = [{"order": True}, {"event": "article_read"}]
    assert by_start(await funnel_of(analyst, backwards, "MONTH", "2026-06-01", "2026-06-30")) == {
        "2026-06-01": {"1": (15, None, 0, 0), "2": None}
    }


async def test_article_click_through_is_readers_who_went_on_into_the_mini_program(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("a", 10):
            await seed.join(name, sh("2026-08-01"))
            await event(
                seed,
                name,
                "article_read",
                sh("2026-09-08", "08:00"),
                OA,
                entry="from=article&id=7",
                properties={"articleId": 7},
            )
        for name in names("a", 5):
            await event(
                seed,
                name,
                "page_view",
                sh("2026-09-08", "08:05"),
                MINI_P,
                entry="from=article&id=7",
            )
        await event(
            seed, "a0", "page_view", sh("2026-09-08", "08:07"), MINI_P, entry="from=article&id=7"
        )
    analyst = client_at(Role.ANALYST)
    days = await series_of(analyst, "ARTICLE_CLICK_THROUGH", "DAY", "2026-09-08", "2026-09-08")
    assert by_start(days) == {"2026-09-08": {"7": (10, 5, 6, 10)}}
    rates = [c["rate"] for c in days[0]["cells"]]
    assert rates == [0.5]


async def test_age_bands_and_provinces_come_from_the_coarse_columns_written_with_the_sealed_values(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("y", 6):
            await seed.join(name, sh("2026-07-15"))
            await describe(seed, name, birthday=date(1996, 5, 4), province="广东省")
        for name in names("o", 6):
            await seed.join(name, sh("2026-07-15"))
            await describe(seed, name, birthday=date(1988, 1, 2), province="浙江省")
        await seed.join("lone", sh("2026-07-16"))
        await describe(seed, "lone", birthday=date(1960, 3, 3), province="西藏自治区")
        await seed.join("quiet", sh("2026-07-15"))  # no birthday, no address
    async with database.transaction() as session:
        rows = (
            await session.execute(sa.select(PROFILES.c.birth_cohort, PROFILES.c.province))
        ).all()
    assert sorted(rows, key=str) == sorted(
        [(1995, "广东省")] * 6 + [(1985, "浙江省")] * 6 + [(1960, "西藏自治区"), (None, None)],
        key=str,
    )
    analyst = client_at(Role.ANALYST)
    ages = await series_of(analyst, "AGE_BANDS", "DAY", "2026-07-15", "2026-07-16")
    # The one without a birthday is hidden, and the smallest band with them (7 hidden
    # together). The lone member of the 16th never shows; a band never shown is not named.
    assert by_start(ages) == {
        "2026-07-15": {"1995-1999": (6, None, 0, 0)},
        "2026-07-16": {"1995-1999": None},
    }
    month = await series_of(analyst, "AGE_BANDS", "MONTH", "2026-07-01", "2026-07-31")
    assert by_start(month) == {"2026-07-01": {"1995-1999": (6, None, 0, 0, "partial")}}
    regions = await series_of(analyst, "PROVINCES", "MONTH", "2026-07-01", "2026-07-31")
    # Of the two sixes, the first in order (广东省) is hidden with the one without an address.
    assert visible(regions) == {"2026-07-01": {"浙江省": (6, None, 0, 0, "partial")}}


async def test_lapsed_members_are_counted_by_days_since_last_seen_at_the_periods_end(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("new", 6):
            await seed.join(name, sh("2026-08-25"))
        for name in names("seen", 6):
            await seed.join(name, sh("2026-06-01"))
            await seed.act(name, sh("2026-08-10"))
        for name in names("gone", 5):
            await seed.join(name, sh("2026-01-10"))
            await seed.buy(name, sh("2026-02-01"), 1_000)
    analyst = client_at(Role.ANALYST)
    month = await series_of(analyst, "LAPSED_MEMBERS", "MONTH", "2026-08-01", "2026-08-31")
    day = await series_of(analyst, "LAPSED_MEMBERS", "DAY", "2026-08-31", "2026-08-31")
    expected = {"0-7": (6, None, 0, 0), "8-30": (6, None, 0, 0), "181+": (5, None, 0, 0)}
    assert visible(month) == {"2026-08-01": expected}
    assert visible(day) == {"2026-08-31": expected}
    assert [c["key"] for c in day[0]["cells"]] == ["0-7", "8-30", "31-90", "91-180", "181+"]


async def test_a_released_day_never_changes_and_an_unfinished_period_is_not_released(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("p", 6):
            await seed.join(name, sh("2026-03-01"))
            await seed.act(name, sh("2026-03-10", "10:00"))
    analyst = client_at(Role.ANALYST)
    first = await series_of(analyst, "ACTIVE_HOURS", "DAY", "2026-03-10", "2026-03-10")
    assert visible(first) == {"2026-03-10": {"10": (6, None, 6, 0)}}
    async with seeding(database, vault) as seed:  # a late event for the same day
        await seed.join("late", sh("2026-03-01"))
        await seed.act("late", sh("2026-03-10", "10:30"))
    assert await series_of(analyst, "ACTIVE_HOURS", "DAY", "2026-03-10", "2026-03-10") == first
    today = date.today()
    current = await series_of(
        analyst, "ACTIVE_HOURS", "MONTH", today.isoformat(), today.isoformat()
    )
    assert [(p["released"], p["cells"]) for p in current] == [(False, [])]
    later = today + timedelta(days=40)
    body = await gql(
        analyst,
        f'{{ analytics {{ series(measure: FUNNEL, period: DAY, from: "{today}", to: "{later}") '
        "{ starts } } }",
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_series_are_for_analysts_and_marketers_and_refuse_bad_ranges(
    database: Database, client_at: ClientAt
) -> None:
    query = (
        '{ analytics { series(measure: ACTIVE_HOURS, period: DAY, from: "2026-03-02", '
        'to: "%s") { starts } } }'
    )
    for role in (Role.ANALYST, Role.MARKETER):
        body = await gql(client_at(role), query % "2026-03-03")
        assert "errors" not in body and len(body["data"]["analytics"]["series"]) == 2, body
    for role in (Role.SUPPORT, Role.SERVICE, Role.COMPLIANCE):
        body = await gql(client_at(role), query % "2026-03-03")
        assert error_codes(body) == ["FORBIDDEN"], (role, body)
    analyst = client_at(Role.ANALYST)
    for to in ("2026-03-01", "2028-03-01"):  # before from; more than 400 days
        assert error_codes(await gql(analyst, query % to)) == ["BAD_USER_INPUT"], to
    one_step = (
        '{ analytics { funnel(steps: [{order: true}], period: DAY, from: "2026-03-02", '
        'to: "2026-03-02") { starts } } }'
    )
    assert error_codes(await gql(analyst, one_step)) == ["BAD_USER_INPUT"]
    both = (
        '{ analytics { funnel(steps: [{order: true, event: "x"}, {order: true}], period: DAY, '
        'from: "2026-03-02", to: "2026-03-02") { starts } } }'
    )
    assert error_codes(await gql(analyst, both)) == ["BAD_USER_INPUT"]


REQUEST_ERASURE = """
mutation Request($input: RequestErasureInput!) { requestErasure(input: $input) { id status } }
"""
APPROVE_ERASURE = """
mutation Approve($input: ApproveErasureInput!) { approveErasure(input: $input) { status } }
"""


async def test_anonymizing_a_person_clears_their_birth_cohort_and_province(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in ("kept", "gone"):
            await seed.join(name, sh("2026-07-15"))
            await describe(seed, name, birthday=date(1996, 5, 4), province="广东省")
        gone, row = seed.people["gone"].public_id, seed.people["gone"].id
    body = await gql(
        client_at(Role.COMPLIANCE, subject="officer-a"),
        REQUEST_ERASURE,
        {"input": {"profileId": gone, "mode": "ANONYMIZE", "reason": "TICKET-9"}},
    )
    assert "errors" not in body, body
    body = await gql(
        client_at(Role.COMPLIANCE, subject="officer-b"),
        APPROVE_ERASURE,
        {"input": {"requestId": body["data"]["requestErasure"]["id"]}},
    )
    assert body["data"]["approveErasure"]["status"] == "COMPLETED", body
    async with database.transaction() as session:
        rows = (
            await session.execute(
                sa.select(
                    PROFILES.c.id,
                    PROFILES.c.birth_month,
                    PROFILES.c.birth_cohort,
                    PROFILES.c.province,
                )
            )
        ).all()
    coarse = {profile_id == row: tuple(rest) for profile_id, *rest in rows}
    assert coarse == {False: (5, 1995, "广东省"), True: (None, None, None)}


async def test_the_nightly_release_keeps_every_closed_day_of_every_measure(
    database: Database, vault: Vault, client_at: ClientAt
) -> None:
    async with seeding(database, vault) as seed:
        for name in names("n", 6):
            await seed.join(name, sh("2026-03-01"))
            await seed.act(name, sh("2026-03-10", "10:00"))
    now = sh("2026-03-12", "03:00")  # the 11th is over; the 12th is not
    async with database.transaction() as session:
        measures = await release_recent(session, zone="Asia/Shanghai", now=now, days=20)
    assert measures == len(Measure) - 1 + 2  # no funnel; entry conversion at three depths
    async with database.transaction() as session:
        kept = (
            await session.execute(
                sa.select(RELEASES.c.starts, RELEASES.c.body).where(
                    RELEASES.c.measure == "ACTIVE_HOURS", RELEASES.c.period == "DAY"
                )
            )
        ).all()
    days = {str(starts)[:10]: body for starts, body in kept}
    assert min(days) == "2026-02-20" and max(days) == "2026-03-11"  # 20 days back to the 11th
    assert days["2026-03-10"] == {"10": [6, None, 6, 0]}
    # Cohort measures wait 30 days after each day: none of these is released yet.
    async with database.transaction() as session:
        waiting = await session.scalar(
            sa.select(sa.func.count())
            .select_from(RELEASES)
            .where(RELEASES.c.measure == "FOLLOW_CONVERSION")
        )
    assert waiting == 0
    analyst = client_at(Role.ANALYST)
    hours = await series_of(analyst, "ACTIVE_HOURS", "DAY", "2026-03-10", "2026-03-10")
    assert visible(hours) == {"2026-03-10": {"10": (6, None, 6, 0)}}
