"""Where a serving measure spends its time: `python -m bench.profile [me|lookup] [--requests N]`.

Starts a throwaway PostgreSQL 15 cluster, seeds the `me` member (or 10,000 phones), then sends
the measure's request in process (httpx over ASGI, no network, no load generator) to cdp and,
for `me`, to the hand-written endpoint and to cdp again with the document sent as a trusted
`documentId` (its compiled steps): mean milliseconds per request for each, and with
`--pyinstrument` (pip install pyinstrument) cdp's call tree, or with `--cprofile tottime`
the functions it spends most time in; `--stock-executor` runs cdp's generic path without
cdp/graphql/execution.py's shortcut (bench.apps.use_stock_executor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

import httpx

from bench.customer import LOOKUP, ME, body, seed_customer
from bench.databases import (
    bench_settings,
    cluster_dsn,
    fresh_database,
    keystore_dsn,
    prepare_keystore,
)
from bench.handwritten import create_handwritten_app
from bench.phones import phone_of, seed_phones
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.documents import registry
from cdp.keys.source import KeyringSource
from cdp.migrations import upgrade_to_head
from cdp.unit_of_work import audited_transaction, operator_trail
from tests.pg_cluster import PgCluster, find_bin_dir


async def _per_request(app: Any, token: str, bodies: list[str], requests: int) -> float:
    """Mean ms per request over `requests` sequential requests after a warm-up."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for text in bodies[:20]:
            response = await http.post("/graphql", content=text, headers=headers)
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(response.text[:500])
        started, cpu = time.perf_counter(), time.process_time()
        for n in range(requests):
            await http.post("/graphql", content=bodies[n % len(bodies)], headers=headers)
        cpu_ms = (time.process_time() - cpu) * 1000 / requests
        print(f"  ({cpu_ms:.2f} ms of this process's CPU per request)")
        return (time.perf_counter() - started) * 1000 / requests


def _print_self_times(root: Any, top: int = 400) -> None:
    """Where the samples land: time by function, its own (not its callees'), largest first."""
    own: dict[str, float] = {}
    pending = [root]
    while pending:
        frame = pending.pop()
        pending.extend(frame.children)
        key = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
        own[key] = own.get(key, 0.0) + frame.total_self_time
    total = sum(own.values())
    for key, seconds in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"{seconds / total:6.1%}  {key}")


async def register_trusted(database: Database, keyring: Keyring, text: str) -> str:
    """`text` registered as a trusted document for the customer; its id."""
    async with audited_transaction(database, operator_trail(keyring, "bench")) as session:
        row, _ = await registry.register(
            session=session,
            text=text,
            operation_name="Me",
            operation_type="query",
            roles=[Role.CUSTOMER],
        )
    return row.id


async def profile(settings: Settings, keyring: Keyring, dsn: str, args: argparse.Namespace) -> None:
    source = KeyringSource.fixed(keyring)
    database = Database(settings)
    try:
        if args.measure == "me":
            subject = await seed_customer(settings, database, source)
            token = issue_token(settings, role=Role.CUSTOMER, subject=subject)
            bodies = [body(ME)]
            hand = create_handwritten_app(settings)
            hand_ms = await _per_request(hand, token, bodies, args.requests)
            print(f"hand-written: {hand_ms:.2f} ms per request")
        else:
            await seed_phones(dsn, keyring, upto=10_000, keys_dsn=keystore_dsn(settings))
            token = issue_token(settings, role=Role.SUPPORT, subject="bench-support")
            rng = random.Random(1)
            bodies = [
                body(LOOKUP.replace("@PICK@", phone_of(rng.randrange(10_000)))) for _ in range(500)
            ]
        if args.stock_executor:
            from bench.apps import use_stock_executor

            use_stock_executor(rebuild=True)
        app = create_app(settings, database, source)
        if args.pyinstrument:
            from pyinstrument import Profiler

            with Profiler(async_mode="disabled", interval=0.0002) as profiler:
                cdp_ms = await _per_request(app, token, bodies, args.requests)
            profiler.print(show_all=False, short_mode=False)
            _print_self_times(profiler.last_session.root_frame())
        elif args.cprofile:
            import cProfile
            import pstats

            with cProfile.Profile() as stats:
                cdp_ms = await _per_request(app, token, bodies, args.requests)
            pstats.Stats(stats).sort_stats(args.cprofile).print_stats(40)
        else:
            cdp_ms = await _per_request(app, token, bodies, args.requests)
        print(f"cdp: {cdp_ms:.2f} ms per request")
        if args.measure == "me":
            trusted = [json.dumps({"documentId": await register_trusted(database, keyring, ME)})]
            compiled_ms = await _per_request(app, token, trusted, args.requests)
            print(f"cdp, the same document trusted (compiled): {compiled_ms:.2f} ms per request")
    finally:
        await database.dispose()


async def main(args: argparse.Namespace) -> None:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit("bench.profile: no PostgreSQL server binaries")
    cluster = PgCluster.start(bin_dir)
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_profile")
        with bench_settings(dsn, rate_limit_per_minute=0) as (settings, keyring):
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            await profile(settings, keyring, dsn, args)
    finally:
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("measure", choices=("me", "lookup"), nargs="?", default="me")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--cprofile", metavar="SORT", help="cProfile, sorted by SORT (tottime)")
    parser.add_argument(
        "--stock-executor",
        action="store_true",
        help="cdp's generic path on strawberry's stock executor (no execution.py shortcut)",
    )
    asyncio.run(main(parser.parse_args()))
