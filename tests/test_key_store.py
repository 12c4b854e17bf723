"""The key store apart from the database: keys moved out of older databases with their ids,
and settings that refuse a key store in the database itself."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from cdp.config import ConfigError
from cdp.crypto import KEY_BYTES
from cdp.db import Database, utcnow
from cdp.keys.relocation import move_keys_to_store
from cdp.keys.schema import data_keys
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.migrations import alembic_config, upgrade_to_head
from tests.conftest import TEST_KEYRING, fresh_pg_database, make_settings
from tests.pg_cluster import PgCluster


@pytest.fixture
async def old_database_url(backend: str, tmp_path: Path, pg_cluster: PgCluster | None) -> str:
    """An empty database at revision 0005, when the data keys lived in it."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        assert pg_cluster is not None
        url = await fresh_pg_database(pg_cluster, template=None)
    await asyncio.to_thread(command.upgrade, alembic_config(make_settings(url)), "0005")
    return url


async def test_migrate_moves_the_databases_data_keys_to_the_key_store_keeping_their_ids(
    old_database_url: str, keystore: KeyStore
) -> None:
    settings = make_settings(old_database_url, keystore_url=keystore.url)
    database = Database(settings)
    keys = {i: secrets.token_bytes(KEY_BYTES) for i in (3, 7, 41)}
    try:
        async with database.engine.begin() as conn:
            for key_id, key in keys.items():
                version, wrapped = TEST_KEYRING.wrap(key, data_key_id=key_id)
                await conn.execute(
                    sa.insert(data_keys).values(
                        id=key_id,
                        profile_id=key_id * 10,
                        kek_version=version,
                        wrapped=wrapped,
                        created_at=utcnow(),
                    )
                )
        with pytest.raises(RuntimeError, match="run `cdp migrate`"):
            await asyncio.to_thread(upgrade_to_head, settings)  # alembic alone never drops keys

        assert await move_keys_to_store(database, keystore, batch_size=2) == 3
        assert await move_keys_to_store(database, keystore) == 0  # a rerun finds none left
        await asyncio.to_thread(upgrade_to_head, settings)
        async with database.engine.connect() as conn:
            assert not await conn.run_sync(lambda c: sa.inspect(c).has_table("data_keys"))
    finally:
        await database.dispose()
    vault = Vault(KeyringSource.fixed(TEST_KEYRING), keystore)
    await vault.load_keys(None, list(keys))
    assert {i: vault._keys[i] for i in keys} == keys
    new_id = await keystore.create(1, lambda i: TEST_KEYRING.wrap(b"k" * 32, data_key_id=i))
    assert new_id > 41, "a new key never takes the id of a moved one"


def test_the_key_store_may_not_be_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}"
    with pytest.raises(ConfigError, match="CDP_KEYSTORE_URL must not be CDP_DATABASE_URL"):
        make_settings(url, keystore_url=url)
    pg = "postgresql+asyncpg://cdp:pw1xyz@db.internal:5432/cdp"
    with pytest.raises(ConfigError, match="must not be"):
        make_settings(pg, keystore_url="postgresql+asyncpg://keys:pw2xyz@db.internal/cdp")
    apart = make_settings(pg, keystore_url="postgresql+asyncpg://keys:pw3xyz@db.internal/cdp_keys")
    assert apart.keystore_database_url.endswith("/cdp_keys")
    assert "pw1xyz" not in repr(apart) and "pw3xyz" not in repr(apart)


def test_production_requires_a_key_store_of_its_own(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}", env="production", keyring=tmp_path / "k"
    )
    with pytest.raises(ConfigError, match="CDP_KEYSTORE_URL is required in production"):
        settings.keystore_database_url  # noqa: B018
    development = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'cdp.db'}", keyring=tmp_path / "k"
    )
    assert development.keystore_database_url.endswith(f"{tmp_path}/keystore.db")
