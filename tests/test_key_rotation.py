"""`cdp keys rotate`: a new KEK version, every data key rewrapped, resumable, nothing lost."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cdp.auth import Role
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.keys.rotation import key_status, rewrap_pending
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.profiles import service
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING, ClientFactory, audited, gql
from tests.support.people import MINI, link, read_all

ME = "{ me { phone name unionId identities { openId } } }"


async def seed(service_client: httpx.AsyncClient, client_for: ClientFactory, n: int) -> list[str]:
    ids = []
    for i in range(n):
        profile = await link(
            service_client, "MINI_PROGRAM", MINI, f"oRotate{i:021d}", f"uRotate{i:021d}"
        )
        customer = client_for(Role.CUSTOMER, subject=profile["id"])
        await gql(
            customer,
            "mutation U($p: String, $n: String) {"
            " updateMyProfile(input: {phone: $p, name: $n}) { id } }",
            {"p": f"13800{i:06d}", "n": f"钱{i}"},
        )
        ids.append(profile["id"])
    return ids


async def test_rotation_rewraps_every_data_key_so_the_old_kek_can_go(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
) -> None:
    ids = await seed(service_client, client_for, 5)
    before = await read_all(database, keystore, TEST_KEYRING, ids)
    rotated = TEST_KEYRING.with_new_version()

    assert await rewrap_pending(database, keystore, rotated, batch_size=2) == 5
    status = await key_status(keystore, rotated)
    assert status.data_keys_by_version == {2: 5} and status.pending == 0

    # With the old version gone, only a completed rewrap leaves anything readable.
    only_new = replace(rotated, keks={2: rotated.keks[2]})
    assert await read_all(database, keystore, only_new, ids) == before


async def test_values_written_before_and_after_rotation_read_back(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
) -> None:
    old_ids = await seed(service_client, client_for, 2)
    rotated = TEST_KEYRING.with_new_version()
    await rewrap_pending(database, keystore, rotated)
    # A profile created after the rotation by a server that already knows version 2.
    vault = Vault(KeyringSource.fixed(rotated), keystore)
    from cdp.channels import Channel

    async with audited(database) as session:
        outcome = await link_identity(
            session=session,
            vault=vault,
            settings=database.settings,
            channel=Channel.WEB,
            app_id="wxweb",
            open_id="oAfterRotation000000000001",
        )
        await service.update_personal_fields(
            session=session,
            vault=vault,
            profile=outcome.profile,
            phone="13911112222",
            name="孙后",
        )
    values = await read_all(database, keystore, rotated, [*old_ids, outcome.profile.public_id])
    assert values == [
        ("+8613800000000", "钱0"),
        ("+8613800000001", "钱1"),
        ("+8613911112222", "孙后"),
    ]
    assert (await key_status(keystore, rotated)).data_keys_by_version == {2: 3}


async def test_an_interrupted_rotation_resumes_and_old_versions_stay_readable_meanwhile(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
) -> None:
    ids = await seed(service_client, client_for, 5)
    before = await read_all(database, keystore, TEST_KEYRING, ids)
    rotated = TEST_KEYRING.with_new_version()

    def crash(_n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await rewrap_pending(database, keystore, rotated, batch_size=2, progress=crash)
    status = await key_status(keystore, rotated)
    assert status.data_keys_by_version == {1: 3, 2: 2}, "the first batch committed"
    assert await read_all(database, keystore, rotated, ids) == before

    assert await rewrap_pending(database, keystore, rotated, batch_size=2) == 3
    assert (await key_status(keystore, rotated)).pending == 0
    assert await read_all(database, keystore, rotated, ids) == before


async def run_cdp(
    *args: str, database_url: str, keyring: Path, keystore_url: str | None = None
) -> tuple[int, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(keyring),
        "CDP_KEYSTORE_URL": keystore_url or KEYSTORES[database_url],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_the_keys_commands_rotate_and_report_with_a_progress_bar(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
    database_url: str,
    tmp_path: Path,
) -> None:
    ids = await seed(service_client, client_for, 3)
    before = await read_all(database, keystore, TEST_KEYRING, ids)
    keyring_path = tmp_path / "keyring.json"
    TEST_KEYRING.save(keyring_path)

    code, out = await run_cdp("keys", "rotate", database_url=database_url, keyring=keyring_path)
    assert code == 0, out
    assert "added KEK version 2" in out and "rewrapped 3 data keys" in out
    assert re.search(r"rewrapping data keys.*3/3", out)

    code, out = await run_cdp("keys", "status", database_url=database_url, keyring=keyring_path)
    assert code == 0, out
    assert "active KEK version 2" in out and "v2: 3 data keys" in out and "pending rewrap: 0" in out
    assert await read_all(database, keystore, Keyring.load(keyring_path), ids) == before


async def test_an_old_kek_is_retired_only_once_no_data_key_needs_it(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
    database_url: str,
    tmp_path: Path,
) -> None:
    ids = await seed(service_client, client_for, 3)
    before = await read_all(database, keystore, TEST_KEYRING, ids)
    keyring_path = tmp_path / "keyring.json"
    TEST_KEYRING.with_new_version().save(keyring_path)  # v2 added, nothing rewrapped yet

    code, out = await run_cdp("keys", "status", database_url=database_url, keyring=keyring_path)
    assert "v1: 3 data keys  (retire blocked: 3 data keys to rewrap)" in out, out
    code, out = await run_cdp(
        "keys", "retire", "1", database_url=database_url, keyring=keyring_path
    )
    assert code == 1 and "v1 still wraps 3 data keys" in out, out
    code, out = await run_cdp(
        "keys", "retire", "2", database_url=database_url, keyring=keyring_path
    )
    assert code == 1 and "v2 is the active version" in out, out
    assert sorted(Keyring.load(keyring_path).keks) == [1, 2]

    assert await rewrap_pending(database, keystore, Keyring.load(keyring_path)) == 3
    code, out = await run_cdp("keys", "status", database_url=database_url, keyring=keyring_path)
    assert "v1: 0 data keys  (can be retired: cdp keys retire 1)" in out, out
    code, out = await run_cdp(
        "keys", "retire", "1", database_url=database_url, keyring=keyring_path
    )
    assert code == 0 and "KEK version 1 retired; the keyring holds v2" in out, out
    retired = Keyring.load(keyring_path)
    assert sorted(retired.keks) == [2] and keyring_path.stat().st_mode & 0o777 == 0o600
    assert await read_all(database, keystore, retired, ids) == before
