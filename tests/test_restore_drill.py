"""Erasure survives a restore of the database: back up, erase, restore the database only,
start, and the person stays erased (export, suppression, receipt)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.erasure import journal
from cdp.erasure.purge import scan
from cdp.erasure.replay import replay_erasure_journal
from cdp.keys.schema import erasure_journal
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.suppression.models import ErasureMode, SuppressionKind
from tests.conftest import (
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    ClientFactory,
    error_codes,
    fresh_pg_database,
    gql,
    make_settings,
)
from tests.pg_cluster import PgCluster
from tests.support.erasure_calls import APPROVE, EXPORT, REASON, REQUEST, officer
from tests.support.erasure_people import LINK_ID, ok

pytestmark = pytest.mark.slow

MINI = "wx8f3c2a1b5d6e7f90"
OPEN_ID = "oDrill000000000000000000001"
UNION_ID = "uDrill000000000000000000001"
PHONE, NAME = "13800009999", "钱多多"
UPDATE = "mutation U($i: UpdateMyProfileInput!) { updateMyProfile(input: $i) { id } }"


async def person(client_for: ClientFactory) -> str:
    link = {"channel": "MINI_PROGRAM", "appId": MINI, "openId": OPEN_ID, "unionId": UNION_ID}
    profile_id = str((await ok(client_for(Role.SERVICE), LINK_ID, link))["id"])
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    body = await gql(customer, UPDATE, {"i": {"phone": PHONE, "name": NAME}})
    assert "errors" not in body, body
    return profile_id


async def erase(client_for: ClientFactory, profile_id: str, mode: str) -> dict[str, Any]:
    given = {"profileId": profile_id, "mode": mode, "reason": REASON}
    opened = await ok(officer(client_for, "a"), REQUEST, given)
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED"
    return done  # type: ignore[no-any-return]


def pg_tool(cluster: PgCluster, *args: str) -> None:
    command = [str(cluster.bin_dir / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


async def back_up(settings: Settings, backend: str, where: Path, cluster: PgCluster | None) -> Path:
    if backend == "sqlite":
        target = where / "backup.db"
        source = sqlite3.connect(settings.database_url.split("///", 1)[-1])
        copy = sqlite3.connect(target)
        with copy:
            source.backup(copy)  # SQLite's online backup API
        source.close()
        copy.close()
        return target
    assert cluster is not None
    target = cluster.root / f"backup-{database_name(settings.database_url)}.dump"
    dump = ("pg_dump", "-Fc", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres")
    pg_tool(cluster, *dump, "-f", str(target), database_name(settings.database_url))
    return target


async def restore(
    settings: Settings, backend: str, backup: Path, cluster: PgCluster | None
) -> Settings:
    """The database alone, from the backup, as a new database; the key store stays."""
    if backend == "sqlite":
        path = Path(settings.database_url.split("///", 1)[-1]).with_name("restored.db")
        shutil.copyfile(backup, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        assert cluster is not None
        url = await fresh_pg_database(cluster, None)
        pg_tool(
            cluster,
            *("pg_restore", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"),
            *("--no-owner", "-d", database_name(url), str(backup)),
        )
    return make_settings(url, keystore_url=settings.keystore_database_url)


def backup_holds_no_key(backend: str, backup: Path) -> None:
    data = backup.read_bytes()
    if backend == "sqlite":
        conn = sqlite3.connect(backup)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert "data_keys" not in tables and "erasure_journal" not in tables
    assert b"data_keys" not in data, "a database backup must not carry the data keys"


@pytest.fixture
async def started() -> AsyncIterator[list[Any]]:
    """Apps started with their lifespan (as `cdp serve` starts them); stopped afterwards."""
    running: list[Any] = []
    yield running
    for context in running:
        await context.__aexit__(None, None, None)


@pytest.mark.parametrize("mode", ["DELETE", "ANONYMIZE"])
async def test_an_erasure_survives_a_restore_of_the_database_from_an_older_backup(
    client_for: ClientFactory,
    settings: Settings,
    backend: str,
    tmp_path: Path,
    pg_cluster: PgCluster | None,
    started: list[Any],
    mode: str,
) -> None:
    profile_id = await person(client_for)
    backup = await back_up(settings, backend, tmp_path, pg_cluster)
    backup_holds_no_key(backend, backup)
    done = await erase(client_for, profile_id, mode)

    restored = await restore(settings, backend, backup, pg_cluster)
    database, keystore = Database(restored), KeyStore(restored)
    try:
        app = create_app(
            restored, database, KeyringSource.fixed(TEST_KEYRING), keystore, replay_journal=True
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()  # start-up replays the journal
        started.append(lifespan)

        def client(role: Role, subject: str) -> httpx.AsyncClient:
            token = issue_token(restored, role=role, subject=subject)
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://cdp.test",
                headers={"authorization": f"Bearer {token}"},
            )

        async with (
            client(Role.COMPLIANCE, "officer-c") as compliance,
            client(Role.SERVICE, "svc") as service,
        ):
            export = await gql(
                compliance, EXPORT, {"input": {"profileId": profile_id, "purpose": "drill"}}
            )
            for secret in (PHONE, NAME, UNION_ID, OPEN_ID, PHONE[-4:]):
                assert secret not in str(export), f"{secret} came back from the backup"
            assert error_codes(export) in (["SUPPRESSED"], [])
            link = {"channel": "WEB", "appId": "wxweb", "openId": "oNew1", "unionId": UNION_ID}
            assert error_codes(await gql(service, LINK_ID, {"input": link})) == ["SUPPRESSED"]
            listing = await gql(
                compliance, "{ erasureRequests(first: 5) { items { id status receipt } } }"
            )
        [request] = listing["data"]["erasureRequests"]["items"]
        assert (request["id"], request["status"]) == (done["id"], "COMPLETED")
        assert request["receipt"]["verify"]["clean"] is True
        assert request["receipt"]["replay"]["profiles"] == 1
        await verification_scan_passes(database, keystore, mode)
    finally:
        await database.dispose()
        await keystore.dispose()


async def verification_scan_passes(database: Database, keystore: KeyStore, mode: str) -> None:
    [entry, *_] = await journal.read_journal(keystore, TEST_KEYRING)
    async with database.transaction() as session:
        remaining = await scan(
            session,
            store=keystore,
            profile_id=entry.profile_id,
            mode=ErasureMode(mode),
            public_ids=[],
            union_hashes=[bytes.fromhex(h) for h in entry.hashes["UNION_ID"]],
            phone_hashes=[bytes.fromhex(h) for h in entry.hashes["PHONE"]],
            open_hashes=[bytes.fromhex(h) for h in entry.hashes["OPEN_ID"]],
        )
        assert not any(remaining.values()), remaining
        profiles = await session.execute(sa.text("SELECT public_id FROM profiles"))
        assert all(
            TEST_KEYRING.blind_index("profile", str(p)).hex() not in entry.hashes["PROFILE"]
            for (p,) in profiles
        )


def run_cdp(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": settings.database_url,
        "CDP_KEYSTORE_URL": settings.keystore_database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
    }
    return subprocess.run(
        [sys.executable, "-m", "cdp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_cdp_migrate_replays_the_journal_once_and_then_finds_nothing_to_do(
    client_for: ClientFactory,
    settings: Settings,
    backend: str,
    tmp_path: Path,
    pg_cluster: PgCluster | None,
) -> None:
    profile_id = await person(client_for)
    backup = await back_up(settings, backend, tmp_path, pg_cluster)
    await erase(client_for, profile_id, "DELETE")
    restored = await restore(settings, backend, backup, pg_cluster)

    first = await asyncio.to_thread(run_cdp, restored, "migrate")
    assert first.returncode == 0, first.stderr
    assert "1 erasures re-applied" in first.stdout
    assert "erasure journal replayed: 1 re-applied" in first.stderr  # the one log line
    again = await asyncio.to_thread(run_cdp, restored, "migrate")
    assert again.returncode == 0, again.stderr
    assert "0 erasures re-applied" in again.stdout


async def test_a_tampered_journal_entry_is_refused_loudly_and_nothing_is_applied(
    client_for: ClientFactory, settings: Settings, database: Database, keystore: KeyStore
) -> None:
    profile_id = await person(client_for)
    await erase(client_for, profile_id, "DELETE")
    async with keystore.engine.begin() as conn:
        # Triggers refuse changes; an attacker with the file drops them first.
        if keystore.dialect == "sqlite":
            await conn.exec_driver_sql("DROP TRIGGER erasure_journal_no_update")
        else:
            await conn.exec_driver_sql("DROP TRIGGER erasure_journal_no_change ON erasure_journal")
        await conn.execute(
            sa.update(erasure_journal)
            .where(erasure_journal.c.seq == 1)
            .values(body=sa.func.replace(erasure_journal.c.body, "DELETE", "ANONYMIZE"))
        )
    with pytest.raises(journal.JournalTampered, match="entry 1 fails its signature"):
        await replay_erasure_journal(database, keystore, KeyringSource.fixed(TEST_KEYRING))


async def test_the_journal_refuses_updates_and_deletes(
    client_for: ClientFactory, keystore: KeyStore
) -> None:
    await erase(client_for, await person(client_for), "DELETE")
    for statement in (sa.delete(erasure_journal), sa.update(erasure_journal).values(body="{}")):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with keystore.engine.begin() as conn:
                await conn.execute(statement)


async def test_replaying_thousands_of_entries_with_nothing_to_do_takes_a_few_statements(
    database: Database, keystore: KeyStore
) -> None:
    for n in range(1500):
        h = TEST_KEYRING.blind_index("union", f"uGone{n}").hex()
        await journal.append(
            keystore,
            TEST_KEYRING,
            journal.JournalEntry(
                request=f"00000000-0000-0000-0000-{n:012d}",
                profile_id=10_000 + n,
                mode="DELETE",
                tombstone=f"t{n}",
                data_key_ids=[],
                hashes={SuppressionKind.UNION_ID.value: [h]},
                requested_by="a",
                requested_at="2026-11-01T00:00:00+00:00",
                approved_by="b",
                approved_at="2026-11-01T00:00:00+00:00",
            ),
        )
    source = KeyringSource.fixed(TEST_KEYRING)
    first = await replay_erasure_journal(database, keystore, source)
    assert (first.entries, first.reapplied) == (1500, 1500)  # the requests were missing
    statements: list[str] = []
    sa.event.listen(
        database.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
    )
    again = await replay_erasure_journal(database, keystore, source)
    assert again.reapplied == 0
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 8


async def test_a_production_keyring_and_its_key_store_are_made_once_with_mode_0600(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prod" / "keyring.json"
    settings = make_settings(
        "sqlite+aiosqlite:///" + str(tmp_path / "cdp.db"),
        keyring=path,
        keystore_url="sqlite+aiosqlite:///" + str(tmp_path / "keys.db"),
    )
    env = {
        **os.environ,
        "CDP_DATABASE_URL": settings.database_url,
        "CDP_KEYSTORE_URL": settings.keystore_database_url,
        "CDP_KEYRING": str(path),
    }

    def init() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cdp", "keys", "init", "--production"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    made = await asyncio.to_thread(init)
    assert made.returncode == 0, made.stderr
    assert "created (production)" in made.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    keys_file = Path(settings.keystore_database_url.split("///", 1)[1])
    assert keys_file.stat().st_mode & 0o777 == 0o600, "the key store is private like the keyring"
    from cdp.crypto import Keyring

    assert Keyring.load(path).development is False
    before = path.read_bytes()
    again = await asyncio.to_thread(init)
    assert again.returncode == 1 and "not replaced" in again.stderr
    assert path.read_bytes() == before
