"""How cdp's costs grow with the number of members: `python -m bench.scale` (10,000, then
1,000,000, then 10,000,000 profiles) or `--quick` (1,000 / 10,000 / 30,000, no targets).

One durable PostgreSQL 15 cluster, one database grown in place with COPY (`bench/phones.py`:
each person their own data key, a sealed phone and name and the phone's blind index, made in
two worker processes). At each size, against one `cdp serve` process: support's lookup by phone
(one connection, random phones), `me` (8 connections; the member seeded through cdp's own
mutations first), and in process the analytics breakdown `membersByTier` of the latest closed
month, cold (computed and released) and warm (read from its release). Writes its own section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.customer import LOOKUP, ME, body, seed_customer
from bench.databases import (
    asyncpg_url,
    bench_settings,
    cluster_dsn,
    fresh_database,
    keystore_dsn,
    prepare_keystore,
)
from bench.load import Workload, find_wrk
from bench.phones import phone_of, seed_phones
from bench.report import ROOT, Row, write_section
from bench.servers import running
from bench.serving import Setup, answer
from bench.sides import Plan, once
from cdp.analytics.periods import Granularity, period_of
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.migrations import upgrade_to_head
from tests.pg_cluster import PgCluster, find_bin_dir

HEADING = "## Ten million members"
TIERS = '{ analytics { membersByTier(from: "@F", to: "@T") { cells { key count } total } } }'


def _month() -> tuple[str, str]:
    """The latest month whose release may be asked for (it and 31 days after it are over)."""
    today = datetime.now(UTC).date()
    month = period_of(today, Granularity.MONTH)
    while month.ends + timedelta(days=31) > today:
        month = period_of(month.starts - timedelta(days=1), Granularity.MONTH)
    return str(month.starts), str(month.last_day)


async def _tiers(setup: Setup) -> tuple[float, float]:
    """membersByTier of the latest closed month: (cold ms, warm ms)."""
    database = Database(setup.settings)
    app = create_app(setup.settings, database, KeyringSource.fixed(setup.keyring))
    token = issue_token(setup.settings, role=Role.ANALYST, subject="bench-analyst")
    first, last = _month()
    query = TIERS.replace("@F", first).replace("@T", last)
    conn = await asyncpg.connect(setup.dsn)
    try:
        await conn.execute("DELETE FROM analytics_releases")
    finally:
        await conn.close()
    timings = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://b",
            headers={"authorization": f"Bearer {token}"},
            timeout=600,
        ) as client:
            for _ in range(4):
                started = time.perf_counter()
                found = (await client.post("/graphql", json={"query": query})).json()
                timings.append((time.perf_counter() - started) * 1000)
                if "errors" in found:
                    raise RuntimeError(f"membersByTier answered {found}")
    finally:
        await database.dispose()
    return timings[0], sorted(timings[1:])[1]


async def measure(
    setup: Setup, sizes: tuple[int, ...], seconds: float, wrk: str | None
) -> list[Row]:
    database = Database(setup.settings)
    try:
        me = await seed_customer(setup.settings, database, KeyringSource.fixed(setup.keyring))
    finally:
        await database.dispose()
    me_load = Workload(body(ME), setup.token(Role.CUSTOMER, me))
    support = setup.token(Role.SUPPORT, "bench-support")
    rows: list[Row] = []
    p50: dict[int, float] = {}
    me_rate: dict[int, float] = {}
    for size in sizes:
        started = time.perf_counter()
        await seed_phones(
            setup.dsn, setup.keyring, upto=size, keys_dsn=keystore_dsn(setup.settings), processes=2
        )
        print(
            f"bench.scale: {size:,} profiles after {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        cold, warm = await _tiers(setup)
        with running({"cdp": ("cdp", 1)}, setup.environment) as servers:
            cdp = servers["cdp"]
            rng = random.Random(size)
            lookup = Workload(
                body(LOOKUP), support, tuple(phone_of(rng.randrange(size)) for _ in range(2000))
            )
            if "****" not in str(answer(cdp, lookup)):
                raise RuntimeError("the lookup did not find a masked phone")
            answer(cdp, me_load)
            one, eight = Plan(seconds, 1, 1, wrk), Plan(seconds, 1, 8, wrk)
            await once(cdp, lookup, one, max(1.0, seconds / 3))  # warm-up
            found = await once(cdp, lookup, one, seconds)
            await once(cdp, me_load, eight, max(1.0, seconds / 3))
            mine = await once(cdp, me_load, eight, seconds)
        p50[size], me_rate[size] = found.p50_ms, mine.per_second
        rows += [
            Row(
                f"support lookup by phone, {size:,} profiles, p50",
                found.p50_ms,
                "ms",
                "—",
                None,
                f"p99 {found.p99_ms:.1f} ms",
            ),
            Row(
                f"`me`, 8 connections, {size:,} profiles",
                mine.per_second,
                "req/s",
                "—",
                None,
                f"p50 {mine.p50_ms:.1f} ms, p99 {mine.p99_ms:.1f} ms",
            ),
            Row(
                f"analytics membersByTier, {size:,} profiles, warm",
                warm,
                "ms",
                "< 1000 ms",
                None,
                f"cold (computing the month's release) {cold:,.0f} ms",
            ),
        ]
    small, large = sizes[0], sizes[-1]
    growth, kept = p50[large] / max(p50[small], 1e-9), me_rate[large] / max(me_rate[small], 1e-9)
    rows += [
        Row(
            f"support lookup p50 at {large:,} / at {small:,} profiles",
            growth,
            "×",
            "≤ 1.5",
            growth <= 1.5,
        ),
        Row(
            f"`me` throughput at {large:,} / at {small:,} profiles", kept, "×", "≥ 0.9", kept >= 0.9
        ),
    ]
    return rows


async def run(quick: bool, output: Path) -> int:
    sizes = (1_000, 10_000, 30_000) if quick else (10_000, 1_000_000, 10_000_000)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench.scale: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_scale")
        with bench_settings(dsn) as (settings, keyring):
            setup = Setup(
                settings.model_copy(update={"database_url": asyncpg_url(dsn)}), keyring, dsn
            )
            await asyncio.to_thread(upgrade_to_head, setup.settings)
            await prepare_keystore(setup.settings)
            wrk = await asyncio.to_thread(find_wrk, not quick)
            rows = await measure(setup, sizes, 2.0 if quick else 10.0, wrk)
    finally:
        cluster.stop()
    if quick:
        rows = [Row(r.measure, r.value, r.unit, r.target, None, r.detail) for r in rows]
    note = (
        "`python -m bench.scale`: one durable cluster, one database grown in place with COPY; "
        f"at each size one `cdp serve` process, load from {wrk or 'bench.loadgen'}, "
        f"{'2' if quick else '10'} s per measure after a warm-up."
    )
    print(write_section(output, HEADING, rows, note))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.quick, args.output)))


if __name__ == "__main__":
    main()
