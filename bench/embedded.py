"""The embedded default under concurrent use: `python -m bench.embedded [--quick]`.

What `make run` serves: `cdp serve` (one worker, its background tasks running) on a fresh
SQLite file with 200 demo members (`cdp demo-data`), and the `me` document of
`bench/customer.py` for a member seeded through cdp's own mutations, from 8 connections.
Every `me` reads personal fields and so appends an audit record: the writers' queue and the
readers beside it (cdp/sqlite_writers.py) are what this measures. Its own section of
RESULTS.md; the target is the tail: p99 within 5x p50.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.customer import ME, body, seed_customer
from bench.load import Result, Workload, find_wrk, run_load
from bench.report import ROOT, Row, write_section
from bench.servers import Server, running
from bench.sides import Plan, once
from cdp.auth import Role, issue_token
from cdp.config import load_settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.source import KeyringSource

SECTION = "## The embedded default (SQLite) under concurrent use"
MEMBERS, CONNECTIONS, TAIL = 200, 8, 5.0
JWT_SECRET = "bench-embedded-secret-that-is-long-enough-0123456789"


def prepare(folder: Path, members: int) -> dict[str, str]:
    """A migrated SQLite file with `members` demo members, as `make run` makes it."""
    env = {
        "CDP_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/cdp.db",
        "CDP_KEYRING": f"{folder}/keyring.json",
        "CDP_JWT_SECRET": JWT_SECRET,
    }
    cdp = [sys.executable, "-m", "cdp"]
    for args in (["keys", "init"], ["migrate"], ["demo-data", "--profiles", str(members)]):
        subprocess.run(cdp + args, env={**os.environ, **env}, check=True, capture_output=True)
    return env


async def member(env: dict[str, str]) -> tuple[str, str]:
    """The bench's member, seeded in process into the same file; its public id and token."""
    settings = load_settings(env)
    database = Database(settings)
    try:
        keyring = KeyringSource.fixed(Keyring.load(settings.keyring))
        public_id = await seed_customer(settings, database, keyring)
    finally:
        await database.dispose()
    token = issue_token(settings, role=Role.CUSTOMER, subject=public_id, ttl_seconds=86400)
    return public_id, f"Bearer {token}"


async def measure(server: Server, workload: Workload, plan: Plan) -> list[Result]:
    """The rounds after a warm-up; failed requests are counted, not fatal (a result here)."""
    await once(server, workload, plan, max(1.0, plan.seconds / 3))  # warm-up
    return [
        await asyncio.to_thread(
            run_load,
            workload,
            server.port,
            connections=plan.connections,
            seconds=plan.seconds,
            wrk=plan.wrk,
        )
        for _ in range(plan.rounds)
    ]


async def embedded_rows(*, quick: bool, wrk: str | None) -> list[Row]:
    seconds, rounds, members = (2.0, 1, 50) if quick else (20.0, 3, MEMBERS)
    with tempfile.TemporaryDirectory(prefix="cdp-bench-embedded-") as tmp:
        env = await asyncio.to_thread(prepare, Path(tmp), members)
        _, token = await member(env)
        workload = Workload(body(ME), token)
        with running({"cdp on SQLite": ("cdp", 1)}, env) as servers:
            results = await measure(
                servers["cdp on SQLite"], workload, Plan(seconds, rounds, CONNECTIONS, wrk)
            )
    throughput = statistics.median(r.per_second for r in results)
    p50 = statistics.median(r.p50_ms for r in results)
    p99 = statistics.median(r.p99_ms for r in results)
    ratio = p99 / max(p50, 1e-9)
    failed = sum(r.errors for r in results)
    return [
        Row(
            f"`me` on the embedded SQLite default, {CONNECTIONS} connections, "
            f"{members} demo members",
            throughput,
            "req/s",
            "reported",
            None,
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; {rounds} × {seconds:g} s, {results[0].tool}",
        ),
        Row(
            "`me` on SQLite: p99 / p50",
            ratio,
            "×",
            f"≤ {TAIL:g}",
            None if quick else ratio <= TAIL,
            f"p99 {p99:.1f} ms over p50 {p50:.1f} ms",
        ),
        Row(
            "`me` on SQLite: failed requests",
            failed,
            "requests",
            "0",
            None if quick else failed == 0,
            f"of {sum(r.requests for r in results):,}: a non-2xx status or no answer in 10 s",
        ),
    ]


async def run(quick: bool, output: Path) -> int:
    wrk = await asyncio.to_thread(find_wrk, not quick)
    rows = await embedded_rows(quick=quick, wrk=wrk)
    note = (
        "`cdp serve` with its background tasks on a fresh SQLite file (`cdp demo-data`), the "
        "`me` document of `bench/customer.py`; medians of the rounds after a warm-up. "
        "Each `me` appends an audit record: SQLite's writers queue in the process "
        "(`cdp/sqlite_writers.py`), its reads run beside them."
    )
    print(write_section(output, SECTION, rows, note))
    return 0 if all(r.met is not False for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, no targets")
    parser.add_argument("--output", type=Path, default=ROOT / "RESULTS.md")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.quick, args.output)))


if __name__ == "__main__":
    main()
