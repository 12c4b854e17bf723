"""How cdp's costs grow with the number of members: `python -m bench.scale` (10,000, then
1,000,000, then 10,000,000 profiles) or `--quick` (1,000 / 10,000 / 30,000, no targets).

One durable PostgreSQL 15 cluster with a database per size, seeded with COPY (`bench/phones.py`:
each person their own data key, a sealed phone and name and the phone's blind index, made in
two worker processes), and the `me` member through cdp's own mutations. Then one `cdp serve`
per database, all at once, asked in alternating rounds: support's lookup by phone (one
connection, random phones of that size) and `me` (8 connections, then one); and in process
the analytics breakdown `membersByTier` of the latest closed month, cold (computed and
released) and warm (read from its release). Writes its own section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
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
from bench.load import Result, Workload, find_wrk
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
# Rounds of the full run: the ratios are medians of per-round ratios, and other work on a shared
# machine moves single rounds by 20 % either way.
ROUNDS = 7
# The servers' own analytics releaser would spend the rounds computing 400 days of releases
# over the larger databases (minutes at ten million): that is the background work measured
# by membersByTier cold, not what a request costs, so it is off while the rounds run.
QUIET = {"CDP_ANALYTICS_RELEASE_INTERVAL_HOURS": "0"}
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


@dataclass
class Size:
    """One database of `profiles` members, its `me` member and the loads asked of it."""

    profiles: int
    setup: Setup
    lookup: Workload | None = None
    me: Workload | None = None
    lookups: list[Result] = field(default_factory=list)
    pages: list[Result] = field(default_factory=list)
    alone: list[Result] = field(default_factory=list)


async def _seeded(base: Setup, cluster: str, profiles: int) -> Size:
    dsn = await fresh_database(cluster, f"cdp_scale_{profiles}")
    url = asyncpg_url(dsn)
    settings = base.settings.model_copy(update={"database_url": url, "keystore_url": url + "_keys"})
    setup = Setup(settings, base.keyring, dsn)
    await asyncio.to_thread(upgrade_to_head, settings)
    await prepare_keystore(settings)
    database = Database(settings)
    try:
        me = await seed_customer(settings, database, KeyringSource.fixed(base.keyring))
    finally:
        await database.dispose()
    started = time.perf_counter()
    await seed_phones(
        dsn, base.keyring, upto=profiles, keys_dsn=keystore_dsn(settings), processes=2
    )
    took = time.perf_counter() - started
    print(f"bench.scale: {profiles:,} profiles seeded in {took:.0f} s", file=sys.stderr)
    rng = random.Random(profiles)
    picks = tuple(phone_of(rng.randrange(profiles)) for _ in range(2000))
    support = setup.token(Role.SUPPORT, "bench-support")
    return Size(
        profiles,
        setup,
        Workload(body(LOOKUP), support, picks),
        Workload(body(ME), setup.token(Role.CUSTOMER, me)),
    )


async def measure(sizes: list[Size], seconds: float, rounds: int, wrk: str | None) -> list[Row]:
    """Every size served at once; each round asks each of them in turn (reversed every other
    round), so what else the machine does falls on all of them alike."""
    tiers = {size.profiles: await _tiers(size.setup) for size in sizes}
    one, eight = Plan(seconds, 1, 1, wrk), Plan(seconds, 1, 8, wrk)
    with ExitStack() as stack:
        servers = {
            size.profiles: stack.enter_context(
                running({"cdp": ("cdp", 1)}, {**size.setup.environment, **QUIET})
            )["cdp"]
            for size in sizes
        }
        for size in sizes:
            assert size.lookup is not None and size.me is not None
            if "****" not in str(answer(servers[size.profiles], size.lookup)):
                raise RuntimeError("the lookup did not find a masked phone")
            answer(servers[size.profiles], size.me)
            await once(servers[size.profiles], size.lookup, one, max(1.0, seconds / 3))
            await once(servers[size.profiles], size.me, eight, max(1.0, seconds / 3))
        for round_ in range(rounds):
            for size in sizes if round_ % 2 == 0 else sizes[::-1]:
                assert size.lookup is not None and size.me is not None
                server = servers[size.profiles]
                size.lookups.append(await once(server, size.lookup, one, seconds))
                size.pages.append(await once(server, size.me, eight, seconds))
                size.alone.append(await once(server, size.me, one, seconds))
    rows: list[Row] = []
    for size in sizes:
        cold, warm = tiers[size.profiles]
        lookup_p50 = statistics.median(r.p50_ms for r in size.lookups)
        lookup_p99 = statistics.median(r.p99_ms for r in size.lookups)
        rate = statistics.median(r.per_second for r in size.pages)
        page_p50 = statistics.median(r.p50_ms for r in size.pages)
        alone_p50 = statistics.median(r.p50_ms for r in size.alone)
        rows += [
            Row(
                f"support lookup by phone, {size.profiles:,} profiles, p50",
                lookup_p50,
                "ms",
                "—",
                None,
                f"p99 {lookup_p99:.1f} ms",
            ),
            Row(
                f"`me`, 8 connections, {size.profiles:,} profiles",
                rate,
                "req/s",
                "—",
                None,
                f"p50 {page_p50:.1f} ms",
            ),
            Row(
                f"`me`, one connection, {size.profiles:,} profiles, p50",
                alone_p50,
                "ms",
                "—",
                None,
            ),
            Row(
                f"analytics membersByTier, {size.profiles:,} profiles, warm",
                warm,
                "ms",
                "< 1000 ms",
                warm < 1000,
                f"cold (computing the month's release) {cold:,.0f} ms",
            ),
        ]
    small = sizes[0]
    for large in sizes[1:]:
        growth = statistics.median(
            b.p50_ms / max(a.p50_ms, 1e-9)
            for a, b in zip(small.lookups, large.lookups, strict=True)
        )
        kept = statistics.median(
            b.per_second / max(a.per_second, 1e-9)
            for a, b in zip(small.pages, large.pages, strict=True)
        )
        alone = statistics.median(
            b.p50_ms / max(a.p50_ms, 1e-9) for a, b in zip(small.alone, large.alone, strict=True)
        )
        last = large is sizes[-1]
        rows += [
            Row(
                f"support lookup p50 at {large.profiles:,} / at {small.profiles:,} profiles",
                growth,
                "×",
                "≤ 1.5" if last else "—",
                growth <= 1.5 if last else None,
            ),
            Row(
                f"`me` throughput at {large.profiles:,} / at {small.profiles:,} profiles",
                kept,
                "×",
                "≥ 0.9" if last else "—",
                kept >= 0.9 if last else None,
            ),
            Row(
                f"`me` p50, one connection, at {large.profiles:,} / {small.profiles:,} profiles",
                alone,
                "×",
                "≤ 1.1" if last else "—",
                alone <= 1.1 if last else None,
            ),
        ]
    return rows


async def run(quick: bool, output: Path, sizes: tuple[int, ...] = ()) -> int:
    sizes = sizes or ((1_000, 10_000, 30_000) if quick else (10_000, 1_000_000, 10_000_000))
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench.scale: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    try:
        root = cluster_dsn(cluster, "postgres")
        with bench_settings(await fresh_database(root, "cdp_scale")) as (settings, keyring):
            base = Setup(settings, keyring, "")
            seeded = [await _seeded(base, root, profiles) for profiles in sizes]
            wrk = await asyncio.to_thread(find_wrk, not quick)
            rows = await measure(seeded, 2.0 if quick else 10.0, 1 if quick else ROUNDS, wrk)
    finally:
        cluster.stop()
    if quick:
        rows = [Row(r.measure, r.value, r.unit, r.target, None, r.detail) for r in rows]
    note = (
        "`python -m bench.scale`: one durable cluster, a database per size seeded with COPY, "
        "one `cdp serve` process per database, all running at once; after a warm-up each "
        f"round asks every size in turn ({'1 round' if quick else f'{ROUNDS} rounds'} of "
        f"{'2' if quick else '10'} s per measure, load from {wrk or 'bench.loadgen'}); "
        "medians over the rounds, and the ratios are medians of the per-round ratios."
    )
    print(write_section(output, HEADING, rows, note))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    parser.add_argument(
        "--sizes", default="", help="comma-separated profile counts, smallest first (a trial)"
    )
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.sizes.split(",") if n)
    sys.exit(asyncio.run(run(args.quick, args.output, sizes)))


if __name__ == "__main__":
    main()
