"""Audiences at scale (`python -m bench.audiences [--quick]`): on a throwaway durable
PostgreSQL 15 cluster, 100,000 profiles and 1,000,000 events (bench/bulk.py), a third of the
article reads about health; then

- a full refresh of one audience (the articles' four, each timed: the compiled SQL and the
  difference applied in bulk, in one audited transaction), target < 2 s;
- an incremental update: a person's event committed through cdp's own service, then the
  updater's batch that claims them and re-evaluates them against every audience (what
  `cdp serve`'s updater runs the moment the commit wakes it), 200 times, target p99 < 20 ms.

`python -m bench.run` measures the same on its own seeded database, in its table; run alone,
this writes its lines to the "Audiences" section of bench/RESULTS.md (the rest is left as is).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from bench.bulk import seed
from bench.databases import bench_settings, cluster_dsn, fresh_database, prepare_keystore
from bench.report import Row, write_section
from cdp.audiences.demo import DEMO_AUDIENCES, define_demo_audiences
from cdp.audiences.membership import refresh
from cdp.audiences.models import Audience
from cdp.audiences.updates import AudienceUpdater
from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.db import Database
from cdp.events.service import EventInput, record_events
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.migrations import upgrade_to_head
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.pg_cluster import PgCluster, find_bin_dir

ROOT = Path(__file__).resolve().parent
SECTION = "## Audiences"
MARKETER = Principal(subject="bench-marketer", role=Role.MARKETER)


async def health_articles(dsn: str) -> None:
    """A third of the article reads are about health (bulk events carry no properties)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE events SET properties = jsonb_build_object("
            "'category', (ARRAY['health','coffee','lifestyle'])[1 + id % 3])::json "
            "WHERE type = 'article_read'"
        )
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()


async def refresh_rows(database: Database, keyring: KeyringSource, quick: bool) -> list[Row]:
    settings = database.settings
    async with audited_transaction(database, operator_trail(keyring.keyring)) as session:
        await define_demo_audiences(session=session, actor=MARKETER, settings=settings)
    rows = []
    for name in DEMO_AUDIENCES:
        times, members = [], 0
        for _ in range(1 if quick else 3):
            async with audited_transaction(database, operator_trail(keyring.keyring)) as session:
                audience = await session.scalar(sa.select(Audience).where(Audience.name == name))
                assert audience is not None
                started = time.perf_counter()
                await refresh(session=session, audience=audience, settings=settings)
                times.append(time.perf_counter() - started)
                members = audience.member_count
        ms = statistics.median(times) * 1000
        rows.append(
            Row(
                f"audience full refresh {name} ({members:,} members)",
                ms,
                "ms",
                "< 2000 ms",
                None if quick else ms < 2000,
            )
        )
    return rows


async def incremental_row(
    database: Database, keyring: KeyringSource, store: KeyStore, profiles: int, quick: bool
) -> Row:
    updater = AudienceUpdater(database.settings, database, keyring)
    await updater.drain()
    vault = Vault(keyring, store)
    async with database.transaction() as session:
        people = list(
            await session.scalars(sa.text("SELECT public_id FROM profiles ORDER BY id LIMIT 500"))
        )
    samples = []
    warm_up = 10
    for n in range(warm_up + (20 if quick else 200)):
        event = EventInput(
            event_id=f"bench-aud-{n}",
            type="article_read",
            channel=Channel.OFFICIAL_ACCOUNT,
            occurred_at=datetime.now(UTC),
            profile_id=people[n % len(people)],
            properties={"category": "health"},
        )
        async with audited_transaction(database, operator_trail(keyring.keyring)) as session:
            await record_events(session=session, vault=vault, events=[event])
        started = time.perf_counter()  # the event is committed: the updater wakes now
        done, _ = await updater.step()
        if n >= warm_up:
            samples.append(time.perf_counter() - started)
        assert done == 1
    samples.sort()
    p50 = samples[len(samples) // 2] * 1000
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
    return Row(
        f"audience incremental update of one member, p99 ({profiles:,} profiles, 4 audiences)",
        p99,
        "ms",
        "< 20 ms",
        None if quick else p99 < 20,
        detail=f"p50 {p50:.1f} ms, {len(samples)} updates",
    )


async def audience_rows(
    database: Database, keyring: KeyringSource, dsn: str, profiles: int, quick: bool
) -> list[Row]:
    """The audiences' rows on a seeded database (what `bench.run` adds to its table)."""
    await health_articles(dsn)
    store = KeyStore(database.settings)
    try:
        rows = await refresh_rows(database, keyring, quick)
        rows.append(await incremental_row(database, keyring, store, profiles, quick))
    finally:
        await store.dispose()
    return rows


async def run(quick: bool, output: Path) -> int:
    profiles, events = (2_000, 20_000) if quick else (100_000, 1_000_000)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_bench_audiences")
        with bench_settings(dsn) as (settings, keyring):
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            started = time.perf_counter()
            await seed(dsn, profiles=profiles, events=events)
            print(f"bench: seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            database = Database(settings)
            try:
                rows = await audience_rows(
                    database, KeyringSource.fixed(keyring), dsn, profiles, quick
                )
            finally:
                await database.dispose()
    finally:
        cluster.stop()
    print(write_section(output, SECTION, rows))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.quick, args.output)))


if __name__ == "__main__":
    main()
