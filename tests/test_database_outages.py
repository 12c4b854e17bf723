"""A database that is down, stuck or not ready: 503 with Retry-After and a coded error, never a
500; the statement timeout frees what a stuck query holds; the readiness gate runs its
start-up steps before anything is served (both databases)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database, lock_key, sqlite_path
from cdp.keys.source import KeyringSource
from cdp.migrations import head_revision
from cdp.outages import Outage, outage_of
from tests.conftest import TEST_KEYRING, ClientFactory, gql, make_settings
from tests.pg_cluster import free_port
from tests.support.people import MINI, link
from tests.support.purchases import EARN


def client(app: Any, settings: Settings, role: Role | None = Role.SERVICE) -> httpx.AsyncClient:
    headers = {}
    if role is not None:
        token = issue_token(settings, role=role, subject=f"{role.value}-test")
        headers["authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdp.test", headers=headers
    )


def assert_unavailable(response: httpx.Response, reason: str) -> None:
    """503, Retry-After, one coded error naming the reason and the request."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["reason"] == reason
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


def earn_input(profile_id: str, key: str, points: int = 10) -> dict[str, Any]:
    return {"input": {"profileId": profile_id, "points": points, "idempotencyKey": key}}


async def ledger_keys(database: Database) -> list[str]:
    async with database.transaction() as session:
        rows = await session.execute(sa.text("SELECT idempotency_key FROM points_ledger"))
        return sorted(str(key) for (key,) in rows)


# --- the database unreachable ------------------------------------------------------------------


async def test_with_the_database_unreachable_only_healthz_answers_200(tmp_path: Path) -> None:
    # Nothing listens on the port: every connection is refused.
    settings = make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/cdp")
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        async with client(app, settings) as service:
            assert (await service.get("/healthz")).status_code == 200
            ready = await service.get("/readyz")
            assert_unavailable(ready, "DATABASE_UNAVAILABLE")
            assert ready.json()["status"] == "unavailable"
            graphql = await service.post("/graphql", json={"query": "{ __typename }"})
            assert_unavailable(graphql, "DATABASE_UNAVAILABLE")
            signin = await service.post(
                "/auth/wechat/mini-program", json={"appId": MINI, "code": "c0de"}
            )
            assert_unavailable(signin, "DATABASE_UNAVAILABLE")
            assert (await service.get("/h5/")).status_code == 200
    finally:
        await database.dispose()


async def test_a_request_the_database_fails_under_is_503_and_commits_nothing(
    database: Database, service_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = await link(service_client, "MINI_PROGRAM", MINI, "oOutage0000000000000000001")
    real = database.sessions

    class Lost(ConnectionResetError):
        """What the driver raises when the server goes away mid-request."""

    def failing_sessions(**kwargs: Any) -> Any:
        session = real(**kwargs)
        flush = session.flush

        async def flush_or_lose(*args: Any, **kw: Any) -> None:
            # The first mutation's writes went through; the second one's never arrive.
            if any(getattr(row, "idempotency_key", None) == "k-b" for row in session.new):
                raise Lost()
            await flush(*args, **kw)

        session.flush = flush_or_lose  # type: ignore[method-assign]
        return session

    monkeypatch.setattr(database, "sessions", failing_sessions)
    two = (
        "mutation T($a: EarnPointsInput!, $b: EarnPointsInput!) {"
        " a: earnPoints(input: $a) { id } b: earnPoints(input: $b) { id } }"
    )
    variables = {"a": earn_input(profile["id"], "k-a")["input"]}
    variables["b"] = earn_input(profile["id"], "k-b")["input"]
    response = await service_client.post("/graphql", json={"query": two, "variables": variables})
    monkeypatch.setattr(database, "sessions", real)
    assert_unavailable(response, "DATABASE_UNAVAILABLE")
    assert await ledger_keys(database) == [], "the first mutation's entry went with the request"
    again = await gql(service_client, EARN, earn_input(profile["id"], "k-a"))
    assert "errors" not in again, again
    assert await ledger_keys(database) == ["k-a"]


def test_outages_are_told_from_failures_by_type_and_sqlstate_never_by_message() -> None:
    class Driver(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__("the database system is shutting down")  # ignored
            self.sqlstate = sqlstate

    def wrapped(inner: BaseException) -> sa.exc.DBAPIError:
        try:
            raise sa.exc.DBAPIError("SELECT 1", None, Exception("x")) from inner
        except sa.exc.DBAPIError as exc:
            return exc

    assert outage_of(wrapped(Driver("57P01"))) is Outage.UNAVAILABLE
    assert outage_of(wrapped(Driver("57P03"))) is Outage.UNAVAILABLE
    assert outage_of(wrapped(Driver("08006"))) is Outage.UNAVAILABLE
    assert outage_of(wrapped(Driver("57014"))) is Outage.TIMEOUT
    assert outage_of(ConnectionRefusedError()) is Outage.UNAVAILABLE
    assert outage_of(sa.exc.TimeoutError()) is Outage.UNAVAILABLE
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert outage_of(busy) is Outage.TIMEOUT
    # A unique violation, a bug, or a message that merely sounds like an outage: not one.
    assert outage_of(wrapped(Driver("23505"))) is None
    assert outage_of(ValueError("connection refused")) is None
    assert outage_of(TimeoutError()) is None


# --- a stuck statement -------------------------------------------------------------------------


@asynccontextmanager
async def held_lock(
    database_url: str, backend: str, settings: Settings, profile_id: str
) -> AsyncIterator[Any]:
    """Someone else holds what earning points for the profile waits for, as a transaction
    that never ends would, until the block ends; the holding connection."""
    if backend == "postgresql":
        url = sa.engine.make_url(database_url)
        holder = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, database=url.database
        )
        try:
            internal = await holder.fetchval(
                "SELECT id FROM profiles WHERE public_id = $1", profile_id
            )
            await holder.execute("SELECT pg_advisory_lock($1)", lock_key("points", str(internal)))
            yield holder
        finally:
            await holder.close()
    else:
        holder = sqlite3.connect(sqlite_path(settings), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock
            yield holder
        finally:
            holder.rollback()
            holder.close()


async def test_a_write_stuck_behind_a_lock_is_cut_off_by_the_statement_timeout(
    database_url: str, backend: str
) -> None:
    settings = make_settings(database_url, statement_timeout_seconds=1)
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    service = client(app, settings)
    profile = await link(service, "MINI_PROGRAM", MINI, "oStuck00000000000000000001")
    async with held_lock(database_url, backend, settings, profile["id"]) as holder:
        started = asyncio.get_running_loop().time()
        stuck = await service.post(
            "/graphql", json={"query": EARN, "variables": earn_input(profile["id"], "stuck-1")}
        )
        waited = asyncio.get_running_loop().time() - started
        assert_unavailable(stuck, "DATABASE_TIMEOUT")
        assert 0.9 <= waited < 8, waited  # the statement timeout, not the operation's 10 s
        if backend == "postgresql":
            # The request's backend no longer waits on the lock: its statement was cancelled.
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            assert waiting == 0
    retried = await gql(service, EARN, earn_input(profile["id"], "stuck-1"))
    assert "errors" not in retried, retried
    again = await gql(service, EARN, earn_input(profile["id"], "stuck-1"))
    assert again["data"]["earnPoints"]["id"] == retried["data"]["earnPoints"]["id"]
    assert await ledger_keys(database) == ["stuck-1"]
    await service.aclose()
    await database.dispose()


async def test_the_statement_timeout_is_set_on_every_connection(
    database_url: str, backend: str
) -> None:
    database = Database(make_settings(database_url, statement_timeout_seconds=2.5))
    try:
        async with database.engine.connect() as conn:
            if backend == "postgresql":
                names = ("statement_timeout", "idle_in_transaction_session_timeout")
                shown = [(await conn.execute(sa.text(f"SHOW {n}"))).scalar_one() for n in names]
                assert shown == ["2500ms", "2500ms"]
            else:  # how long a writer waits for SQLite's write lock
                busy = (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar_one()
                assert busy == 2500
    finally:
        await database.dispose()


# --- the readiness gate ------------------------------------------------------------------------


async def test_nothing_is_served_until_every_startup_step_has_run_once(
    settings: Settings, database: Database
) -> None:
    calls: list[str] = []
    failures = {"n": 1}

    async def replay(db: Database) -> None:
        assert db is database
        calls.append("replay")
        if failures["n"]:
            failures["n"] -= 1
            raise RuntimeError("the journal is not there yet")

    async def warm(_db: Database) -> None:
        calls.append("warm")

    app = create_app(
        settings, database, KeyringSource.fixed(TEST_KEYRING), startup_steps=[replay, warm]
    )
    async with client(app, settings) as service:
        refused = await service.post("/graphql", json={"query": "{ __typename }"})
        assert_unavailable(refused, "NOT_READY")
        assert "replay" in refused.json()["errors"][0]["message"]
        assert_unavailable(await service.get("/readyz"), "NOT_READY")
        assert (await service.get("/healthz")).status_code == 200
        assert calls == ["replay"], "the second step waits for the first"
        await asyncio.sleep(1.1)  # requests retry the gate at most once a second
        ready = await service.get("/readyz")
        assert ready.status_code == 200 and ready.json()["revision"] == head_revision()
        served = await service.post("/graphql", json={"query": "{ __typename }"})
        assert served.status_code == 200, served.text
        await service.get("/readyz")
    assert calls == ["replay", "replay", "warm"], "each step ran once it had succeeded"


async def test_readyz_is_503_with_retry_after_until_migrations_reach_head(
    client_for: ClientFactory, database: Database
) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    anonymous = client_for(None)
    assert_unavailable(await anonymous.get("/readyz"), "NOT_READY")
    assert_unavailable(
        await client_for(Role.SERVICE).post("/graphql", json={"query": "{ __typename }"}),
        "NOT_READY",
    )
    async with database.transaction() as session:
        await session.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()}
        )
    await asyncio.sleep(1.1)
    assert (await anonymous.get("/readyz")).status_code == 200


async def test_the_server_cancels_a_stuck_statement_at_the_operation_time_limit(
    database_url: str, backend: str
) -> None:
    # The statement timeout is far off, but no statement may outlive its operation.
    settings = make_settings(
        database_url, statement_timeout_seconds=300, operation_timeout_seconds=1.5
    )
    app = create_app(settings, keyring=KeyringSource.fixed(TEST_KEYRING))
    async with app.router.lifespan_context(app):
        service = client(app, settings)
        profile = await link(service, "MINI_PROGRAM", MINI, "oBounded000000000000000001")
        async with held_lock(database_url, backend, settings, profile["id"]):
            started = asyncio.get_running_loop().time()
            stuck = await asyncio.wait_for(
                service.post(
                    "/graphql",
                    json={"query": EARN, "variables": earn_input(profile["id"], "bounded-1")},
                ),
                timeout=20,
            )
            waited = asyncio.get_running_loop().time() - started
        # Whichever came first, the database's cancel or the operation's limit: coded, quick.
        if stuck.status_code == 503:
            assert_unavailable(stuck, "DATABASE_TIMEOUT")
        else:
            assert stuck.status_code == 400, stuck.text
            assert stuck.json()["errors"][0]["extensions"]["limit"] == "time"
        assert waited < 6, waited
        retried = await gql(service, EARN, earn_input(profile["id"], "bounded-1"))
        assert "errors" not in retried, retried
        await service.aclose()
