"""A real `cdp serve` over a PostgreSQL cluster of its own that restarts under load, or is not
there when cdp starts: 503 with Retry-After meanwhile, recovery without restarting cdp, and
no acknowledged write lost and no refused one half there."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING_PATH
from tests.pg_cluster import PgCluster, find_bin_dir, free_port
from tests.support.purchases import EARN, RECORD, order_input
from tests.support.servers import CDP, run_cdp

pytestmark = pytest.mark.slow
LINK = "mutation L($i: LinkIdentityInput!) { linkIdentity(input: $i) { id } }"


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A cluster of this test's own (the suite's shared one is never restarted), whose
    commits survive a crash as production's do."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found")
    started = PgCluster.start(bin_dir, durable_commits=True)
    try:
        asyncio.run(create_database(started))
        yield started
    finally:
        started.stop()


async def create_database(cluster: PgCluster) -> None:
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")
    try:
        await conn.execute("CREATE DATABASE cdp")
    finally:
        await conn.close()


def environment(cluster: PgCluster) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_ENV="development",
        CDP_DATABASE_URL=cluster.url("cdp"),
        CDP_KEYRING=str(TEST_KEYRING_PATH),
        CDP_JWT_SECRET=TEST_JWT_SECRET,
        CDP_RATE_LIMIT_PER_MINUTE="0",  # the load below is one principal's
    )
    return env


@contextmanager
def serving(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`cdp serve` on a free port, once it answers /healthz: (base URL, the process)."""
    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*CDP, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "cdp serve did not start in 30 s"
                time.sleep(0.1)
            yield base, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def assert_unavailable(response: httpx.Response, reasons: set[str]) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL", error
    assert error["extensions"]["reason"] in reasons, error


@dataclass
class Attempt:
    kind: str  # "points" or "order"
    key: str  # the idempotency key or the order's external id
    variables: dict[str, Any]
    response: httpx.Response


def request_of(kind: str, profile_id: str, key: str) -> tuple[str, dict[str, Any]]:
    if kind == "points":
        return EARN, {"input": {"profileId": profile_id, "points": 7, "idempotencyKey": key}}
    return RECORD, {"input": order_input(profile_id, external_id=key)}


async def keep_writing(
    http: httpx.AsyncClient, worker: int, profiles: list[str], stop: asyncio.Event
) -> list[Attempt]:
    attempts: list[Attempt] = []
    n = 0
    while not stop.is_set():
        kind = "points" if n % 2 == 0 else "order"
        key = f"w{worker}-{n}"
        query, variables = request_of(kind, profiles[n % len(profiles)], key)
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        attempts.append(Attempt(kind, key, variables, response))
        n += 1
        if response.status_code == 503:
            await asyncio.sleep(0.05)
    return attempts


async def restart_under_load(base: str, token: str, cluster: PgCluster) -> list[Attempt]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        profiles = []
        for i in range(2):
            variables = {"i": {"channel": "WEB", "appId": "wxweb", "openId": f"oRestart{i:019d}"}}
            response = await http.post("/graphql", json={"query": LINK, "variables": variables})
            profiles.append(response.json()["data"]["linkIdentity"]["id"])
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(keep_writing(http, worker, profiles, stop)) for worker in range(4)
        ]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.restart, "fast")  # every session ended, a clean stop
        await asyncio.sleep(1.5)
        await asyncio.to_thread(cluster.restart, "immediate")  # a crash: no goodbye at all
        await asyncio.sleep(2.0)
        stop.set()
        return [attempt for found in await asyncio.gather(*workers) for attempt in found]


async def stored(cluster: PgCluster) -> dict[str, Any]:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", database="cdp"
    )
    try:
        entries = await conn.fetch(
            "SELECT id, profile_id, kind, points, balance_after, idempotency_key"
            " FROM points_ledger ORDER BY id"
        )
        lots = await conn.fetch("SELECT entry_id FROM points_lots")
        orders = await conn.fetch(
            "SELECT o.public_id, o.external_id, count(i.order_id) AS lines"
            " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"
            " GROUP BY o.public_id, o.external_id"
        )
        audits = await conn.fetch(
            "SELECT action, detail FROM audit_events WHERE outcome = 'ok'"
            " AND action IN ('points.earn', 'order.record')"
        )
    finally:
        await conn.close()
    return {"entries": entries, "lots": lots, "orders": orders, "audits": audits}


def assert_whole(found: dict[str, Any]) -> None:
    """Every write in the database is there with everything that goes with it."""
    balances: dict[int, int] = {}
    for entry in found["entries"]:
        balances[entry["profile_id"]] = balances.get(entry["profile_id"], 0) + entry["points"]
        assert entry["balance_after"] == balances[entry["profile_id"]], entry
    lots = sorted(row["entry_id"] for row in found["lots"])
    assert lots == sorted(entry["id"] for entry in found["entries"]), "one lot per earn"
    audits = [(row["action"], json.loads(row["detail"])) for row in found["audits"]]
    audited_entries = sorted(d["entry"] for a, d in audits if a == "points.earn")
    assert audited_entries == sorted(entry["id"] for entry in found["entries"])
    audited_orders = sorted(d["order"] for a, d in audits if a == "order.record")
    assert audited_orders == sorted(order["public_id"] for order in found["orders"])
    assert all(order["lines"] == 2 for order in found["orders"])


def test_a_postgresql_restart_under_load_loses_no_acknowledged_write(
    cluster: PgCluster, tmp_path: Path
) -> None:
    env = environment(cluster)
    run_cdp(env, "migrate")
    token = run_cdp(env, "token", "service").strip()
    with serving(env, tmp_path / "serve.log") as (base, server):
        attempts = asyncio.run(restart_under_load(base, token, cluster))
        refused = []
        for attempt in attempts:
            if attempt.response.status_code == 200:
                assert "errors" not in attempt.response.json(), attempt.response.text
            else:
                assert_unavailable(attempt.response, {"DATABASE_UNAVAILABLE"})
                refused.append(attempt)
        print(f"{len(attempts)} writes, {len(refused)} refused during the restarts")
        assert refused, "the restarts refused nothing: the test did not test"
        assert len(attempts) - len(refused) >= 20
        found = asyncio.run(stored(cluster))
        assert_whole(found)
        entry_keys = {entry["idempotency_key"] for entry in found["entries"]}
        order_keys = {order["external_id"] for order in found["orders"]}
        for attempt in attempts:
            if attempt.response.status_code == 200:
                assert attempt.key in (entry_keys if attempt.kind == "points" else order_keys)

        async def retry_refused() -> list[httpx.Response]:
            headers = {"authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
                query = {"points": EARN, "order": RECORD}
                return [
                    await http.post(
                        "/graphql", json={"query": query[a.kind], "variables": a.variables}
                    )
                    for a in refused
                ]

        # Recovered by itself: the same cdp process takes every refused write on a retry.
        for response in asyncio.run(retry_refused()):
            assert response.status_code == 200 and "errors" not in response.json(), response.text
        assert server.poll() is None
        after = asyncio.run(stored(cluster))
        assert_whole(after)
        keys = [entry["idempotency_key"] for entry in after["entries"]]
        externals = [order["external_id"] for order in after["orders"]]
        assert len(keys) == len(set(keys)) and len(externals) == len(set(externals))
        assert {a.key for a in attempts if a.kind == "points"} == set(keys)
        assert {a.key for a in attempts if a.kind == "order"} == set(externals)
    assert "audit chain intact" in run_cdp(env, "audit", "verify")


def test_cdp_serve_starts_without_its_database_and_becomes_ready_when_it_comes(
    cluster: PgCluster, tmp_path: Path
) -> None:
    env = environment(cluster)
    run_cdp(env, "migrate")
    token = run_cdp(env, "token", "service").strip()
    cluster.stop_server()
    with serving(env, tmp_path / "serve.log") as (base, server):
        headers = {"authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert_unavailable(ready, {"DATABASE_UNAVAILABLE"})
        query = {
            "query": LINK,
            "variables": {
                "i": {"channel": "WEB", "appId": "wxweb", "openId": "oLateDatabase0000000000001"}
            },
        }
        early = httpx.post(f"{base}/graphql", json=query, headers=headers)
        assert_unavailable(early, {"DATABASE_UNAVAILABLE"})
        time.sleep(1.0)
        assert server.poll() is None, "cdp serve keeps running without its database"
        cluster.start_server()
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready 20 s after the database came"
            time.sleep(0.2)
        served = httpx.post(f"{base}/graphql", json=query, headers=headers)
        assert served.status_code == 200 and "errors" not in served.json(), served.text
