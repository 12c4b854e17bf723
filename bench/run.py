"""Benchmarks with targets: `python -m bench.run` (full) or `--quick` (seconds, no targets).

Each run starts a throwaway PostgreSQL 15 cluster (or uses CDP_BENCH_DATABASE_URL), seeds it
in bulk, measures, and writes bench/RESULTS.md (a table, the machine, the date, the commit).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.audiences import audience_rows
from bench.audit_writes import audit_write_rows
from bench.bulk import orders_and_events_for, seed
from bench.databases import (
    asyncpg_url,
    bench_settings,
    cluster_dsn,
    drop_database,
    fresh_database,
    prepare_keystore,
)
from bench.load import find_wrk
from bench.lookups import lookup_rows
from bench.report import ROOT, Row, machine, table, write_head
from bench.servers import Setup
from bench.serving import serving_rows
from cdp.analytics.periods import Granularity, period_of
from cdp.app import create_app
from cdp.auth import Principal, Role, issue_token
from cdp.channels import Channel
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.erasure import service as erasure
from cdp.erasure.execution import execute_erasure
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.linking import link as linking
from cdp.migrations import upgrade_to_head
from cdp.profiles import service as profile_service
from cdp.suppression.models import ErasureMode
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.pg_cluster import PgCluster, find_bin_dir

MEASURES = (
    "membersByTier",
    "membersByFirstChannel",
    "tagCounts",
    "consentOptInRates",
    "ordersBySource",
    "conversionByChannel",
    "repurchaseRate",
    "retention",
)
SELECTIONS = {
    "membersByTier": "{ cells { key count } total }",
    "membersByFirstChannel": "{ cells { key count } total }",
    "tagCounts": "{ cells { key count } }",
    "consentOptInRates": "{ key rate }",
    "ordersBySource": "{ cells { source channel orders } totalOrders }",
    "conversionByChannel": "{ key rate }",
    "repurchaseRate": "{ rate }",
    "retention": "{ day7 { rate } day30 { rate } }",
}


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> float:
    """Median seconds of `runs` runs after one warm-up."""
    await fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def analytics_rows(
    settings: Settings, database: Database, keyring: Keyring, profiles: int, quick: bool
) -> list[Row]:
    app = create_app(settings, database, KeyringSource.fixed(keyring))
    token = issue_token(settings, role=Role.ANALYST, subject="bench-analyst")
    # The breakdowns answer one calendar month, once it and the 30 days after it are over:
    # the latest such month (its first answer releases it; the samples after read it).
    today = datetime.now(UTC).date()
    month = period_of(today, Granularity.MONTH)
    while month.ends + timedelta(days=31) > today:
        month = period_of(month.starts - timedelta(days=1), Granularity.MONTH)
    span = f'from: "{month.starts}", to: "{month.last_day}"'
    rows = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://b",
        headers={"authorization": f"Bearer {token}"},
    ) as client:
        for measure in MEASURES:
            query = f"{{ analytics {{ {measure}({span}) {SELECTIONS[measure]} }} }}"

            async def ask(query: str = query) -> None:
                body = (await client.post("/graphql", json={"query": query})).json()
                assert "errors" not in body, body

            seconds = await timed(ask, 1 if quick else 3)
            rows.append(
                Row(
                    f"analytics {measure}, {profiles:,} profiles",
                    seconds * 1000,
                    "ms",
                    "< 1000 ms",
                    None if quick else seconds < 1,
                )
            )
    return rows


async def erasure_row(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    dsn: str,
    profiles: int,
    history: int,
    quick: bool,
) -> Row:
    source = KeyringSource.fixed(keyring)
    keystore = KeyStore(settings)
    async with audited_transaction(database, operator_trail(keyring, "bench")) as session:
        vault = Vault(source, keystore)
        person = (
            await linking.link_identity(
                session=session,
                vault=vault,
                settings=settings,
                channel=Channel.MINI_PROGRAM,
                app_id="wxbench",
                open_id="oBenchPerson000000000001",
                union_id="oBenchUnion00000000000000001",
            )
        ).profile
        await profile_service.update_personal_fields(
            session=session,
            vault=vault,
            profile=person,
            phone="13800138000",
            name="测试",
        )
    assert person.id is not None
    await orders_and_events_for(dsn, person.id, orders=history, events=history)
    async with audited_transaction(database, operator_trail(keyring, "bench")) as session:
        request = await erasure.request_erasure(
            session=session,
            actor=Principal("officer-a", Role.COMPLIANCE),
            profile=person,
            mode=ErasureMode.DELETE,
            reason="bench",
            due_in=timedelta(days=15),
        )
        await erasure.approve_erasure(
            session=session,
            actor=Principal("officer-b", Role.COMPLIANCE),
            request_id=request.public_id,
        )
    started = time.perf_counter()
    done = await execute_erasure(
        database,
        source,
        keystore=keystore,
        request_id=request.id or 0,
        trail=lambda: operator_trail(keyring, "bench"),
    )
    seconds = time.perf_counter() - started
    await keystore.dispose()
    assert done.receipt["verify"]["clean"]
    return Row(
        f"erasure of one person with {history:,} orders and {history:,} events among "
        f"{profiles:,} profiles",
        seconds * 1000,
        "ms",
        "< 1000 ms",
        None if quick else seconds < 1,
    )


def demo_data_row(quick: bool) -> Row:
    """`cdp demo-data` on the embedded SQLite database, as `make run` does."""
    people = 50 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CDP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/demo.db",
            "CDP_KEYRING": f"{tmp}/keyring.json",
        }
        cdp = [sys.executable, "-m", "cdp"]
        for args in (["keys", "init"], ["migrate"]):
            subprocess.run(cdp + args, env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run(
            [*cdp, "demo-data", "--profiles", str(people)], env=env, check=True, capture_output=True
        )
        seconds = time.perf_counter() - started
    return Row(
        f"demo-data, {people:,} profiles on SQLite",
        seconds,
        "s",
        "< 30 s",
        None if quick else seconds < 30,
    )


async def run(quick: bool, output: Path) -> int:
    profiles, events, history = (2_000, 20_000, 100) if quick else (100_000, 1_000_000, 1_000)
    cluster = None
    dsn = os.environ.get("CDP_BENCH_DATABASE_URL")
    if dsn is None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            print(
                "bench: no PostgreSQL server binaries; set CDP_BENCH_DATABASE_URL", file=sys.stderr
            )
            return 2
        cluster = PgCluster.start(bin_dir, durable=True)  # as production runs
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_bench")
    try:
        with bench_settings(dsn) as (settings, keyring):
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            started = time.perf_counter()
            await seed(dsn, profiles=profiles, events=events)
            print(
                f"bench: seeded {profiles:,} profiles and {events:,} events in "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            database = Database(settings)
            try:
                rows = await analytics_rows(settings, database, keyring, profiles, quick)
                rows.append(
                    await erasure_row(settings, database, keyring, dsn, profiles, history, quick)
                )
                # Last on this data: it gives a third of the article reads a health category.
                rows += await audience_rows(
                    database, KeyringSource.fixed(keyring), dsn, profiles, quick
                )
            finally:
                await database.dispose()
            if cluster is not None:  # its autovacuum must not compete with what follows
                await drop_database(dsn)
            wrk = await asyncio.to_thread(find_wrk, not quick)
            print(f"bench: load from {wrk or 'bench.loadgen (no wrk)'}", file=sys.stderr)
            for name, measure in (("cdp_lookup", lookup_rows), ("cdp_serving", serving_rows)):
                target = await fresh_database(dsn, name)
                setup = Setup(
                    settings.model_copy(
                        update={
                            "database_url": asyncpg_url(target),
                            "keystore_url": asyncpg_url(target) + "_keys",
                        }
                    ),
                    keyring,
                    target,
                )
                await asyncio.to_thread(upgrade_to_head, setup.settings)
                await prepare_keystore(setup.settings)
                rows += await measure(setup, quick=quick, wrk=wrk)
                if cluster is not None:
                    await drop_database(target)
            bin_dir = cluster.bin_dir if cluster is not None else find_bin_dir()
            if bin_dir is not None:  # pgbench comes with the server's binaries
                rows += await audit_write_rows(settings, keyring, dsn, bin_dir, quick=quick)
    finally:
        if cluster is not None:
            cluster.stop()
    # After the cluster is gone: its autovacuum of a million fresh rows must not compete.
    rows.append(await asyncio.to_thread(demo_data_row, quick))
    report = (
        f"# Benchmark results{' (quick: no targets)' if quick else ''}\n\n"
        f"{machine()}\n\nPostgreSQL 15; HTTP measures against uvicorn processes on loopback, "
        f"load from {wrk or 'bench.loadgen (wrk not found)'}.\n\n{table(rows)}\n"
    )
    write_head(output, report)  # the benches' own sections below it stay
    print(report)
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.quick, args.output)))


if __name__ == "__main__":
    main()
