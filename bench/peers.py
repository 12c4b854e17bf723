"""`me` side by side, in one series of alternating rounds at 8 connections: cdp's trusted
document (compiled), cdp's generic path (the query text) with and without
cdp/graphql/execution.py's shortcut, the hand-written endpoint and PostGraphile (the peer,
bench.postgraphile); then PostGraphile and the trusted document on one connection.

`bench.run` measures them with the rest; `python -m bench.peers [--quick] [--rounds N]
[--seconds S]` alone (its own cluster and member, minutes not half an hour), printing the
table and writing its own section of RESULTS.md with `--output`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bench.customer import ME, body, seed_customer
from bench.databases import bench_settings, cluster_dsn, fresh_database, prepare_keystore
from bench.load import Workload, find_wrk
from bench.postgraphile import body as peer_body
from bench.postgraphile import check as check_peer
from bench.postgraphile import install
from bench.postgraphile import server as postgraphile
from bench.report import Row, table, write_section
from bench.servers import Server, Setup, Spec, answer, running, server_environment
from bench.sides import Plan, Side, ratio, rounds
from cdp.auth import Role
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.migrations import upgrade_to_head
from tests.pg_cluster import PgCluster, find_bin_dir

SECTION = "## `me` side by side (python -m bench.peers)"

TRUSTED = "`me` trusted document (compiled)"
GENERIC = "`me` generic path (query text)"
HAND = "`me` hand-written"
STOCK = "`me` generic path, stock executor (no execution.py shortcut)"
PEER = "`me` PostGraphile 4 (sealed columns as ciphertext)"


def register_me(setup: Setup) -> str:
    """ME registered as a trusted document for the customer role, as a brand registers its
    mini-program's documents (`cdp documents register FILE --role customer`); its id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "me.graphql"
        path.write_text(ME, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "cdp", "documents", "register", str(path), "--role", "customer"],
            env=server_environment(setup.environment),
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.startswith("sha256:"):
        raise RuntimeError(f"cdp documents register failed: {done.stderr[-1000:]}")
    return done.stdout.split("\t", 1)[0]


def _unavailable(measure: str, target: str, why: str) -> Row:
    return Row(
        measure, math.nan, "", target, None, f"unavailable ({why})" if why else "unavailable"
    )


def _throughput(name: str, side: Side) -> Row:
    return Row(f"{name}, 8 connections", side.throughput, "req/s", "—", None, side.latencies)


def _target(measure: str, value: float, least: float, quick: bool, detail: str = "") -> Row:
    return Row(measure, value, "×", f"≥ {least}", None if quick else value >= least, detail)


async def me_rows(
    setup: Setup,
    servers: Mapping[str, Server],
    member: str,
    document_id: str,
    plan: Plan,
    *,
    quick: bool,
    peer_missing: str | None,
) -> list[Row]:
    """`servers` holds "cdp", "hand-written", "cdp, stock executor" and, unless
    `peer_missing` says why not, "PostGraphile"."""
    token = setup.token(Role.CUSTOMER, member)
    generic = Workload(body(ME), token)
    trusted = Workload(json.dumps({"documentId": document_id}), token)
    cdp, hand, stock = servers["cdp"], servers["hand-written"], servers["cdp, stock executor"]
    expected = answer(hand, generic)
    for server, workload in ((cdp, generic), (cdp, trusted), (stock, generic)):
        if answer(server, workload) != expected:
            raise RuntimeError(f"{server.name} does not answer `me` as the hand-written one")
    contenders = [(cdp, trusted), (cdp, generic), (hand, generic), (stock, generic)]
    peer = None if peer_missing else servers["PostGraphile"]
    if peer is not None:
        peer_load = Workload(peer_body(member), "")
        check_peer(answer(peer, peer_load))
        contenders.append((peer, peer_load))
    sides = await rounds(contenders, plan)
    t, g, h, s = sides[:4]
    rows = [
        _throughput(name, side)
        for name, side in zip((TRUSTED, GENERIC, HAND, STOCK), sides[:4], strict=True)
    ]
    vs_peer = "`me` throughput trusted document (compiled) / PostGraphile"
    if peer is None:
        rows += [_unavailable(PEER, "—", str(peer_missing)), _unavailable(vs_peer, "≥ 0.5", "")]
    else:
        rows += [
            _throughput(PEER, sides[4]),
            _target(vs_peer, ratio(t, sides[4]), 0.5, quick),
        ]
    rows += [
        _target(
            "`me` throughput generic path (query text) / hand-written", ratio(g, h), 0.7, quick
        ),
        Row(
            "`me` throughput trusted document (compiled) / hand-written",
            ratio(t, h),
            "×",
            "reported",
            None,
        ),
        Row(
            "`me` throughput generic path with execution.py's shortcut / stock executor",
            ratio(g, s),
            "×",
            "reported",
            None,
            f"{g.throughput:,.0f} vs {s.throughput:,.0f} req/s",
        ),
    ]
    if peer is None:
        return rows
    single = Plan(plan.seconds, plan.rounds, 1, plan.wrk)
    one_peer, one_cdp = await rounds([(peer, peer_load), (cdp, trusted)], single)
    for name, side in (("PostGraphile", one_peer), ("trusted document (compiled)", one_cdp)):
        rows.append(
            Row(
                f"`me` p50 on one connection, {name}",
                side.p50_ms,
                "ms",
                "reported",
                None,
                f"p99 {side.p99_ms:.1f} ms, {side.throughput:,.0f} req/s",
            )
        )
    return rows


async def alone(args: argparse.Namespace) -> int:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("bench.peers: no PostgreSQL server binaries", file=sys.stderr)
        return 2
    cluster = PgCluster.start(bin_dir, durable=True)
    try:
        dsn = await fresh_database(cluster_dsn(cluster, "postgres"), "cdp_peers")
        with bench_settings(dsn) as (settings, keyring):
            setup = Setup(settings, keyring, dsn)
            await asyncio.to_thread(upgrade_to_head, settings)
            await prepare_keystore(settings)
            database = Database(settings)
            try:
                member = await seed_customer(settings, database, KeyringSource.fixed(keyring))
            finally:
                await database.dispose()
            document_id = await asyncio.to_thread(register_me, setup)
            specs: dict[str, Spec] = {
                "cdp": ("cdp", 1),
                "hand-written": ("handwritten", 1),
                "cdp, stock executor": ("stock_executor", 1),
            }
            missing = await asyncio.to_thread(install)
            if missing is None:
                specs["PostGraphile"] = postgraphile(dsn)
            wrk = await asyncio.to_thread(find_wrk, not args.quick)
            plan = Plan(args.seconds, args.rounds, 8, wrk)
            with running(specs, setup.environment) as servers:
                rows = await me_rows(
                    setup,
                    servers,
                    member,
                    document_id,
                    plan,
                    quick=args.quick,
                    peer_missing=missing,
                )
    finally:
        cluster.stop()
    note = f"{plan.rounds} rounds of {plan.seconds:g} s, load from {wrk or 'bench.loadgen'}."
    if args.output is not None:
        print(write_section(args.output, SECTION, rows, note))
    else:
        print(f"{note}\n\n{table(rows)}")
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s, one round, no targets")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--output", type=Path, help="write a section of this RESULTS.md")
    given = parser.parse_args()
    if given.quick:
        given.rounds, given.seconds = 1, 2.0
    sys.exit(asyncio.run(alone(given)))
