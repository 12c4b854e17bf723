"""Measures over HTTP against real server processes (PostgreSQL): `me` against the
hand-written endpoint and the peer (bench.peers), auditing on against off, two workers
against one, and ingest."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from bench.customer import (
    EVENTS_PER_CALL,
    ME,
    RECORD_ORDER,
    body,
    record_events_body,
    seed_customer,
)
from bench.databases import keystore_dsn
from bench.load import Workload
from bench.peers import me_rows, register_me
from bench.phones import seed_phones
from bench.postgraphile import install
from bench.postgraphile import server as postgraphile
from bench.report import Row
from bench.servers import Server, Setup, Spec, answer, running
from bench.sides import Plan, alternate, once
from cdp.auth import Role
from cdp.db import Database
from cdp.keys.source import KeyringSource


async def _people(setup: Setup, count: int) -> tuple[str, list[str]]:
    """The `me` member, and public ids of `count` others for ingest to write to."""
    await seed_phones(setup.dsn, setup.keyring, upto=count, keys_dsn=keystore_dsn(setup.settings))
    database = Database(setup.settings)
    try:
        me = await seed_customer(setup.settings, database, KeyringSource.fixed(setup.keyring))
    finally:
        await database.dispose()
    conn = await asyncpg.connect(setup.dsn)
    try:
        others = await conn.fetch(
            "SELECT public_id FROM profiles WHERE phone_bidx IS NOT NULL ORDER BY id LIMIT $1",
            min(count, 200),
        )
    finally:
        await conn.close()
    return me, [r["public_id"] for r in others]


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def serving_rows(setup: Setup, *, quick: bool, wrk: str | None) -> list[Row]:
    seconds, rounds = (2.0, 1) if quick else (10.0, 5)
    me, others = await _people(setup, 500 if quick else 10_000)
    me_load = Workload(body(ME), setup.token(Role.CUSTOMER, me))
    document_id = await asyncio.to_thread(register_me, setup)
    specs: dict[str, Spec] = {
        "cdp": ("cdp", 1),
        "hand-written": ("handwritten", 1),
        "cdp, stock executor": ("stock_executor", 1),
        "cdp, auditing off": ("unaudited", 1),
        "cdp --workers 2": ("cdp", 2),
    }
    peer_missing = await asyncio.to_thread(install)
    if peer_missing is None:
        specs["PostGraphile"] = postgraphile(setup.dsn)
    else:
        print(f"bench: PostGraphile unavailable ({peer_missing})", file=sys.stderr)
    rows: list[Row] = []
    with running(specs, setup.environment) as servers:
        cdp = servers["cdp"]
        answer(servers["cdp, auditing off"], me_load)
        plan = Plan(seconds, rounds, 8, wrk)
        rows += await me_rows(
            setup, servers, me, document_id, plan, quick=quick, peer_missing=peer_missing
        )
        (on, off), ratio = await alternate([cdp, servers["cdp, auditing off"]], me_load, plan)
        rows.append(
            Row(
                "`me` throughput auditing on / off",
                ratio,
                "×",
                "≥ 0.9",
                None if quick else ratio >= 0.9,
                f"{on.throughput:,.0f} vs {off.throughput:,.0f} req/s",
            )
        )
        wide = Plan(seconds, rounds, 16, wrk)
        (two, one), ratio = await alternate([servers["cdp --workers 2"], cdp], me_load, wide)
        rows.append(
            Row(
                "`me` throughput `cdp serve --workers 2` / one worker, 16 connections",
                ratio,
                "×",
                "≥ 1.6",
                None if quick else ratio >= 1.6,
                f"{two.throughput:,.0f} vs {one.throughput:,.0f} req/s",
            )
        )
        rows += await _ingest(setup, cdp, others, plan)
    return rows


async def _ingest(setup: Setup, cdp: Server, others: list[str], plan: Plan) -> list[Row]:
    service = setup.token(Role.SERVICE, "bench-ingest")
    orders = Workload(body(RECORD_ORDER), service, tuple(others))
    events = Workload(record_events_body(), service, tuple(others))
    rows = []
    for name, workload, table, per_call in (
        ("recordOrder", orders, "orders", 1),
        ("recordEvents", events, "events", EVENTS_PER_CALL),
    ):
        answer(cdp, workload)
        before = await _count(setup.dsn, f"SELECT count(*) FROM {table}")
        result = await once(cdp, workload, plan, plan.seconds)
        written = await _count(setup.dsn, f"SELECT count(*) FROM {table}") - before
        if written < result.requests * per_call:
            raise RuntimeError(f"{name}: {result.requests} calls but {written} rows written")
        rows.append(
            Row(
                f"ingest: {name}" + (f", {per_call} events per call" if per_call > 1 else ""),
                result.per_second * per_call,
                f"{table}/s",
                "reported",
                None,
                f"{result.per_second:,.0f} calls/s, "
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
            )
        )
    return rows
