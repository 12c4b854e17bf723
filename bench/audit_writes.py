"""Audited appends on a durable PostgreSQL, side by side with the path before the sealer (one
global lock held through each commit to extend the chain):

- the database's ceiling: pgbench (C, one connection per client) sending the very statements
  cdp's request path sends, 1 and 16 clients, with the sealer running as `cdp serve` runs it;
  the old path's statements (lock, read the head, insert) the same way;
- through cdp's own unit of work (Python, SQLAlchemy, the trail): 1 and 16 writers spread over
  worker processes (four asyncio writers each at most), as API instances would be.

The sealing lag of a record is the time from its write to the first signed head holding it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.databases import asyncpg_url, drop_database, fresh_database
from bench.report import Row
from cdp.audit import trail
from cdp.audit.sealer import seal_until
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import Database, lock_key
from cdp.migrations import upgrade_to_head
from cdp.unit_of_work import audited_transaction, operator_trail

WRITERS_PER_PROCESS = 4
OLD_CHAIN_LOCK = lock_key("audit", "chain")  # the lock every audited commit used to hold


def _locked_append(session: Session, audit_trail: trail.AuditTrail) -> None:
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": OLD_CHAIN_LOCK})
    _lock_free_append(session, audit_trail)


_lock_free_append = trail.append_records


async def _write(
    settings: Settings, keyring: Keyring, writers: int, seconds: float, ready: Any, go: Any
) -> None:
    database = Database(settings)

    async def writer(i: int, until: float) -> None:
        while time.perf_counter() < until:
            audit_trail = operator_trail(keyring, f"bench-writer-{i}")
            audit_trail.record(action="pii.read", profile_id=i, detail={"bench": True})
            async with audited_transaction(database, audit_trail):
                pass

    try:
        async with database.transaction() as session:  # connected and warm before the start
            await session.execute(sa.text("SELECT 1"))
        ready.release()
        await asyncio.to_thread(go.wait)
        until = time.perf_counter() + seconds
        await asyncio.gather(*(writer(i, until) for i in range(writers)))
    finally:
        await database.dispose()


def _process(
    settings: Settings,
    keyring: Keyring,
    writers: int,
    seconds: float,
    locked: bool,
    ready: Any,
    go: Any,
) -> None:
    if locked:
        trail.append_records = _locked_append
    asyncio.run(_write(settings, keyring, writers, seconds, ready, go))


NEW_PATH = """\\set pid random(1, 100000)
BEGIN;
INSERT INTO audit_events (seq, occurred_at, request_id, actor_subject, actor_role, action,
  profile_id, fields, purpose, outcome, detail)
  VALUES (nextval('audit_seq'), now(), md5(random()::text), 'bench-writer-pgbench', 'customer',
  'pii.read', :pid, '[{"field": "phone", "access": "full"}]', NULL, 'ok', '{}');
END;
"""
OLD_PATH = """\\set pid random(1, 100000)
BEGIN;
SELECT pg_advisory_xact_lock(CHAIN_LOCK);
SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1;
INSERT INTO audit_events (seq, occurred_at, request_id, actor_subject, actor_role, action,
  profile_id, fields, purpose, outcome, detail, prev_hash, hash)
  VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM audit_events), now(), md5(random()::text),
  'bench-old-pgbench', 'customer', 'pii.read', :pid, '[{"field": "phone", "access": "full"}]',
  NULL, 'ok', '{}', sha256(random()::text::bytea), sha256(random()::text::bytea));
END;
""".replace("CHAIN_LOCK", str(OLD_CHAIN_LOCK))


async def _pgbench(bin_dir: Path, dsn: str, script: str, clients: int, seconds: int) -> float:
    """Transactions per second pgbench reached with `clients` connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script.replace("\n  ", " "))
    command = [
        str(bin_dir / "pgbench"),
        "-n",
        "-f",
        handle.name,
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(seconds),
        dsn,
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    Path(handle.name).unlink(missing_ok=True)
    found = re.search(r"tps = ([0-9.]+)", out.decode())
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"pgbench failed: {err.decode()[-500:]}")
    return float(found.group(1))


FLOOR_PATH = "BEGIN;\nINSERT INTO bench_floor VALUES (1);\nEND;\n"


async def _machine_floor(dsn: str, bin_dir: Path, seconds: int) -> tuple[float, float]:
    """pgbench at 1 and 16 clients committing the smallest durable insert there is (one
    integer into a table without an index): what this machine's disk and cores allow any
    writer, the yardstick for the ratio of cdp's statements."""
    target = await fresh_database(dsn, "cdp_audit_floor")
    conn = await asyncpg.connect(target)
    try:
        await conn.execute("CREATE TABLE bench_floor (v integer)")
    finally:
        await conn.close()
    try:
        one = await _pgbench(bin_dir, target, FLOOR_PATH, 1, seconds)
        many = await _pgbench(bin_dir, target, FLOOR_PATH, 16, seconds)
    finally:
        await drop_database(target)
    return one, many


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit_events"))
    finally:
        await conn.close()


async def _database_ceiling(
    settings: Settings, keyring: Keyring, dsn: str, bin_dir: Path, seconds: int, locked: bool
) -> tuple[float, float, list[float]]:
    """pgbench at 1 and at 16 clients on a fresh database; the lags of the lock-free rows."""
    target = await fresh_database(dsn, f"cdp_audit_pgbench_{int(locked)}")
    local = settings.model_copy(update={"database_url": asyncpg_url(target)})
    await asyncio.to_thread(upgrade_to_head, local)
    database = Database(local)
    stop = asyncio.Event()
    sealer = None
    if not locked:  # the old path's rows carry their own links: nothing for a sealer to do
        sealer = asyncio.create_task(
            seal_until(database, lambda: keyring, interval=0.25, stop=stop)
        )
    script = OLD_PATH if locked else NEW_PATH
    try:
        one = await _pgbench(bin_dir, target, script, 1, seconds)
        many = await _pgbench(bin_dir, target, script, 16, seconds)
    finally:
        await asyncio.sleep(1.5)
        stop.set()
        if sealer is not None:
            await sealer
        await database.dispose()
    lags = [] if locked else await _lags(target, "bench-writer-pgbench")
    await drop_database(target)
    return one, many, lags


async def _lags(dsn: str, subject: str = "bench-writer-%") -> list[float]:
    """Seconds from each record's write to the first signed head that holds it."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT extract(epoch FROM h.at - e.occurred_at) AS lag
               FROM audit_events e
               JOIN LATERAL (SELECT at FROM audit_tree_heads WHERE size > e.leaf_index
                             ORDER BY id LIMIT 1) h ON true
               WHERE e.actor_subject LIKE $1""",
            subject,
        )
        return [float(r["lag"]) for r in rows]
    finally:
        await conn.close()


async def _run_once(
    settings: Settings, keyring: Keyring, dsn: str, writers: int, seconds: float, locked: bool
) -> tuple[float, list[float]]:
    """Commits per second of `writers`, and the records' sealing lags."""
    target = await fresh_database(dsn, f"cdp_audit_{writers}_{int(locked)}")
    local = settings.model_copy(update={"database_url": asyncpg_url(target)})
    await asyncio.to_thread(upgrade_to_head, local)
    database = Database(local)
    stop = asyncio.Event()
    sealer = asyncio.create_task(seal_until(database, lambda: keyring, interval=0.25, stop=stop))
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    sizes = [WRITERS_PER_PROCESS] * (writers // WRITERS_PER_PROCESS)
    if writers % WRITERS_PER_PROCESS:
        sizes.append(writers % WRITERS_PER_PROCESS)
    processes = [
        context.Process(target=_process, args=(local, keyring, n, seconds, locked, ready, go))
        for n in sizes
    ]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(ready.acquire)
    before = await _count(target)
    started = time.perf_counter()
    go.set()
    while any(p.is_alive() for p in processes):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    rate = (await _count(target) - before) / elapsed
    await asyncio.sleep(1.5)  # the sealer catches up with the last writes
    stop.set()
    await sealer
    await database.dispose()
    lags = await _lags(target)
    await drop_database(target)
    return rate, lags


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[98]


async def audit_write_rows(
    settings: Settings, keyring: Keyring, dsn: str, bin_dir: Path, *, quick: bool
) -> list[Row]:
    """The rows of the audited-appends measures (targets only in the full run)."""
    seconds = 1 if quick else 10
    db_one, db_many, db_lags = await _database_ceiling(
        settings, keyring, dsn, bin_dir, seconds, locked=False
    )
    old_db_one, old_db_many, _ = await _database_ceiling(
        settings, keyring, dsn, bin_dir, seconds, locked=True
    )
    floor_one, floor_many = await _machine_floor(dsn, bin_dir, seconds)
    one, lags_one = await _run_once(settings, keyring, dsn, 1, seconds, locked=False)
    many, lags_many = await _run_once(settings, keyring, dsn, 16, seconds, locked=False)
    old_one, _ = await _run_once(settings, keyring, dsn, 1, seconds, locked=True)
    old_many, _ = await _run_once(settings, keyring, dsn, 16, seconds, locked=True)
    lags = db_lags + lags_one + lags_many
    lag = _p99(lags)
    return [
        Row(
            "audited appends 16 / 1 writers (the database: pgbench, cdp's statements)",
            db_many / db_one,
            "×",
            "≥ 8",
            None if quick else db_many / db_one >= 8,
            f"{db_many:,.0f} / {db_one:,.0f} commits/s; before, under the chain's one lock: "
            f"{old_db_many:,.0f} / {old_db_one:,.0f} = {old_db_many / old_db_one:.2f}×",
        ),
        Row(
            "the machine: smallest durable insert 16 / 1 clients (pgbench, one integer)",
            floor_many / floor_one,
            "×",
            "reported",
            None,
            f"{floor_many:,.0f} / {floor_one:,.0f} commits/s: no writer's ratio can pass "
            "what one commit's flush and two cores allow",
        ),
        Row(
            "audited appends 16 / 1 writers (through cdp's unit of work)",
            many / one,
            "×",
            "reported",
            None,
            f"{many:,.0f} / {one:,.0f} commits/s; before: {old_many:,.0f} / {old_one:,.0f} "
            f"= {old_many / old_one:.2f}×",
        ),
        Row(
            "audit sealing lag p99",
            lag,
            "s",
            "< 2 s",
            None if quick else lag < 2.0,
            f"{len(lags):,} records under both loads; median "
            f"{statistics.median(lags) if lags else 0:.2f} s",
        ),
    ]
