"""Analytics series at scale (`python -m bench.analytics [--quick] [--events 1,3]`): on a
throwaway durable PostgreSQL 15 cluster, 100,000 profiles (bench/bulk.py) and millions of
events written with COPY (the articles' kinds: menu clicks, follows and unfollows, article
reads and the mini-program visits they lead to, page views with entry parameters); then each
measure over the last twelve closed months, twice:

- cold: the first answer, which releases every day of the year (one aggregate query over the
  span, grouped by day, kept in analytics_releases);
- warm: every later answer, read from the released days, target < 1 s.

Events are added in steps (1M, then up to 3M...) to the same people, each step timed again
on a fresh release, to show how the cost grows with events. Writes its lines to the
"Analytics series" section of bench/RESULTS.md (the rest is left as is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.bulk import EVENT_KEYS, seed
from bench.databases import bench_settings, cluster_dsn, fresh_database, prepare_keystore
from bench.report import Row, write_section
from cdp.analytics.funnels import Step
from cdp.analytics.periods import Granularity, period_of
from cdp.analytics.series import Ask, Measure, series
from cdp.db import Database
from cdp.migrations import upgrade_to_head
from tests.pg_cluster import PgCluster, find_bin_dir

ROOT = Path(__file__).resolve().parent
SECTION = "## Analytics series"
ZONE = "Asia/Shanghai"
# (type, channel, entry, properties) of the events added, with their weights.
KINDS = (
    ("wechat.menu_click", "OFFICIAL_ACCOUNT", None, lambda n: {"key": f"M{n % 6}"}),
    ("wechat.subscribe", "OFFICIAL_ACCOUNT", None, lambda n: {"scene": f"s{n % 4}"}),
    ("wechat.unsubscribe", "OFFICIAL_ACCOUNT", None, lambda n: {}),
    ("article_read", "OFFICIAL_ACCOUNT", "article", lambda n: {"articleId": n % 40}),
    ("page_view", "MINI_PROGRAM", "article", lambda n: {}),
    ("page_view", "MINI_PROGRAM", "menu", lambda n: {}),
    ("product_view", "MINI_PROGRAM", None, lambda n: {}),
)
WEIGHTS = (10, 3, 1, 25, 12, 12, 37)


async def more_events(dsn: str, count: int, step: int) -> None:
    """`count` events among the profiles there are, over the past 400 days, in batches."""
    rng, now = random.Random(step), datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        low, high = await conn.fetchrow("SELECT min(id), max(id) FROM profiles")
        apps = {"OFFICIAL_ACCOUNT": "wxofficial0000000", "MINI_PROGRAM": "wxmini00000000000"}
        for start in range(0, count, 500_000):
            rows = []
            for n in range(start, min(count, start + 500_000)):
                kind, channel, source, props = rng.choices(KINDS, WEIGHTS)[0]
                at = now - timedelta(seconds=rng.uniform(0, 400 * 86400))
                params = {"id": str(n % 40), "type": "news"} if source else {}
                rows.append(
                    (
                        f"a{step}-{n}",
                        rng.randint(low, high),
                        kind,
                        channel,
                        apps[channel],
                        source,
                        json.dumps(params),
                        json.dumps(props(n)),
                        at,
                        at,
                    )
                )
            await conn.copy_records_to_table(
                "events",
                columns=[
                    "event_id",
                    "profile_id",
                    "type",
                    "channel",
                    "app_id",
                    "entry_from",
                    "entry_params",
                    "properties",
                    "occurred_at",
                    "received_at",
                ],
                records=rows,
            )
        await conn.execute(EVENT_KEYS)  # ingest's dedup knows them (cdp.events.keys)
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()


async def forget(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM analytics_releases")
    finally:
        await conn.close()


def asks(today: date) -> list[Ask]:
    last = period_of(today, Granularity.MONTH).starts - timedelta(days=1)
    first = period_of(last - timedelta(days=330), Granularity.MONTH).starts
    month = Granularity.MONTH
    funnel = (Step(event="article_read"), Step(event="page_view"), Step(order=True))
    return [
        *(Ask(m, month, first, last) for m in Measure if m is not Measure.FUNNEL),
        Ask(Measure.FUNNEL, month, first, last, steps=funnel, window_days=7),
    ]


async def timed(database: Database, ask: Ask) -> float:
    started = time.perf_counter()
    async with database.transaction() as session:
        await series(session, ask=ask, zone=ZONE, k=10, now=datetime.now(UTC))
    return (time.perf_counter() - started) * 1000


async def measure_all(database: Database, events: int, quick: bool) -> list[Row]:
    rows = []
    for ask in asks(datetime.now(UTC).date()):
        cold = await timed(database, ask)
        warm = min([await timed(database, ask) for _ in range(3)])
        rows.append(
            Row(
                f"analytics series {ask.measure.value}, 12 months, {events:,} events (warm)",
                warm,
                "ms",
                "< 1000 ms",
                None if quick else warm < 1000,
                detail=f"cold (releasing 12 months of days) {cold:,.0f} ms",
            )
        )
        print(f"bench: {rows[-1].measure}: {warm:.1f} ms, cold {cold:.0f} ms", file=sys.stderr)
    return rows


async def run(quick: bool, steps: list[int], output: Path) -> int:
    profiles = 2_000 if quick else 100_000
    unit = 20_000 if quick else 1_000_000
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    rows: list[Row] = []
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_bench_analytics")
        with bench_settings(dsn) as (settings, _keyring):
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            await seed(dsn, profiles=profiles, events=0)
            database = Database(settings)
            have = 0
            try:
                for millions in steps:
                    started = time.perf_counter()
                    await more_events(dsn, millions * unit - have, millions)
                    have = millions * unit
                    print(f"bench: {have:,} events in {time.perf_counter() - started:.0f} s")
                    await forget(dsn)
                    rows += await measure_all(database, have, quick)
            finally:
                await database.dispose()
    finally:
        cluster.stop()
    print(write_section(output, SECTION, rows))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--events", default="1,3", help="millions of events, in steps: 1,3,10")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    steps = [int(n) for n in args.events.split(",")]
    sys.exit(asyncio.run(run(args.quick, steps, args.output)))


if __name__ == "__main__":
    main()
