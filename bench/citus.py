"""cdp on a Citus cluster beside one PostgreSQL node (`python -m bench.citus [--quick]
[--events N] [--profiles N]`): the same data on both, in the same run, then

- analytics: cdp's series of a measure over twelve closed months, cold (releasing every day
  of the year: one aggregate over the events, which on Citus every shard computes for its
  people and the coordinator adds up) and warm (from the released days);
- `me`: the member page of bench/customer.py (14 statements about one person), sequential
  requests in process (httpx over ASGI): milliseconds per request;
- the support lookup by phone (blind index, masked fields, audited), sequential, random phones.

Both sides are durable (fsync, synchronous commit) and on this machine: the Citus cluster is a
coordinator and two workers (32 shards) sharing its cores, so its figures measure what the
distribution costs per request, not what more machines would add (docs/SCALING.md projects
those). Writes the "Citus cluster beside one node" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.analytics import asks, forget, more_events, timed
from bench.bulk import seed
from bench.customer import LOOKUP, ME, body, seed_customer
from bench.databases import (
    bench_settings,
    cluster_dsn,
    fresh_database,
    keystore_dsn,
    prepare_keystore,
)
from bench.phones import phone_of, seed_phones
from bench.report import Row, write_section
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.migrations import upgrade_to_head
from tests.pg_cluster import PgCluster, find_bin_dir
from tests.support.citus import CitusCluster, ensure_citus

ROOT = Path(__file__).resolve().parent
SECTION = "## Citus cluster beside one node"


async def per_request(app: Any, token: str, bodies: list[str], requests: int) -> float:
    """Median ms of `requests` sequential requests after a warm-up."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for text in bodies[:10]:
            response = await http.post("/graphql", content=text, headers=headers)
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(response.text[:500])
        times = []
        for n in range(requests):
            started = time.perf_counter()
            await http.post("/graphql", content=bodies[n % len(bodies)], headers=headers)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure_side(
    settings: Settings, keyring: Keyring, dsn: str, *, profiles: int, events: int, requests: int
) -> dict[str, float | str]:
    await asyncio.to_thread(upgrade_to_head, settings)
    await prepare_keystore(settings)
    started = time.perf_counter()
    await seed(dsn, profiles=profiles, events=0)
    await more_events(dsn, events, 1)
    phones = await seed_phones(dsn, keyring, upto=profiles, keys_dsn=keystore_dsn(settings))
    found: dict[str, float | str] = {"seeded_s": time.perf_counter() - started}
    source = KeyringSource.fixed(keyring)
    database = Database(settings)
    try:
        ask = asks(datetime.now(UTC).date())[0]
        await forget(dsn)
        found["analytics_cold_ms"] = await timed(database, ask)
        found["analytics_warm_ms"] = min([await timed(database, ask) for _ in range(3)])
        found["measure"] = ask.measure.value
        subject = await seed_customer(settings, database, source)
        app = create_app(settings, database, source)
        me = issue_token(settings, role=Role.CUSTOMER, subject=subject)
        found["me_ms"] = await per_request(app, me, [body(ME)], requests)
        support = issue_token(settings, role=Role.SUPPORT, subject="bench-support")
        rng = random.Random(1)
        picks = [phone_of(rng.randrange(phones)) for _ in range(200)]
        lookups = [body(LOOKUP.replace("@PICK@", phone)) for phone in picks]
        found["lookup_ms"] = await per_request(app, support, lookups, requests)
    finally:
        await database.dispose()
    return found


def rows_of(one: dict[str, Any], cluster: dict[str, Any], events: int, profiles: int) -> list[Row]:
    def row(name: str, key: str) -> Row:
        ratio = cluster[key] / max(one[key], 1e-9)
        return Row(
            name,
            cluster[key],
            "ms",
            "reported",
            None,
            detail=f"one node {one[key]:,.1f} ms; cluster / one node {ratio:.2f}",
        )

    scale = f"{profiles:,} profiles, {events:,} events"
    return [
        row(f"analytics {one['measure']} 12 months, cold, Citus ({scale})", "analytics_cold_ms"),
        row(f"analytics {one['measure']} 12 months, warm, Citus ({scale})", "analytics_warm_ms"),
        row(f"`me` (14 statements about one person), Citus ({scale})", "me_ms"),
        row(f"support lookup by phone, Citus ({scale})", "lookup_ms"),
    ]


async def run(quick: bool, profiles: int, events: int, output: Path) -> int:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    why = ensure_citus(bin_dir)
    if why is not None:
        print(f"bench: {why}", file=sys.stderr)
        return 2
    requests = 30 if quick else 200
    single = PgCluster.start(bin_dir, durable=True)
    citus = CitusCluster.start(bin_dir, shard_count=32, durable=True)
    results: list[dict[str, Any]] = []
    try:
        one_dsn = await fresh_database(cluster_dsn(single, "postgres"), "cdp_bench_one")
        url = await citus.create_database("cdp_bench_citus")
        many_dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        for dsn in (one_dsn, many_dsn):
            # The key store is a plain database beside it (on Citus: the coordinator's).
            with bench_settings(dsn, rate_limit_per_minute=0) as (settings, keyring):
                results.append(
                    await measure_side(
                        settings,
                        keyring,
                        dsn,
                        profiles=profiles,
                        events=events,
                        requests=requests,
                    )
                )
                print(f"bench: {dsn.rsplit('/', 1)[-1]}: {results[-1]}", file=sys.stderr)
    finally:
        citus.stop()
        single.stop()
    note = (
        f"A short run on a shared 2-core machine ({profiles:,} profiles, {events:,} events, "
        f"{requests} sequential requests each; the issue's 10,000,000 events did not fit its "
        "time): the coordinator and both workers share the same two cores, so the ratios say "
        "what distribution costs per request, not what more machines add."
    )
    print(write_section(output, SECTION, rows_of(*results, events, profiles), note))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--profiles", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    profiles = args.profiles or (2_000 if args.quick else 100_000)
    events = args.events or (20_000 if args.quick else 1_000_000)
    sys.exit(asyncio.run(run(args.quick, profiles, events, args.output)))


if __name__ == "__main__":
    main()
