"""The bench's databases and settings: a throwaway PostgreSQL 15 cluster's databases, and cdp
settings for one of them with a fresh (non-development) keyring in a temporary file."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from cdp.config import Settings, load_settings
from cdp.crypto import Keyring
from tests.pg_cluster import PgCluster

JWT_SECRET = "bench-secret-long-enough-for-hs256-000000"


def asyncpg_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://")


def cluster_dsn(cluster: PgCluster, name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"


async def fresh_database(dsn: str, name: str) -> str:
    """An empty database `name` on the server of `dsn` (dropped first if left over)."""
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return dsn.rsplit("/", 1)[0] + "/" + name


async def drop_database(dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@contextmanager
def bench_settings(dsn: str, **overrides: Any) -> Iterator[tuple[Settings, Keyring]]:
    """Settings for the database `dsn` and the keyring they name, while the block runs."""
    keyring = Keyring.generate(development=False)
    with tempfile.TemporaryDirectory() as tmp:
        keyring.save(Path(tmp) / "keyring.json")
        settings = load_settings(
            {},
            database_url=asyncpg_url(dsn),
            # The key store: a database of its own on the same server, as in production.
            keystore_url=asyncpg_url(dsn) + "_keys",
            keyring=Path(tmp) / "keyring.json",
            jwt_secret=JWT_SECRET,
            **overrides,
        )
        yield settings, keyring


def keystore_dsn(settings: Settings) -> str:
    """The key store's database in asyncpg's form."""
    return settings.keystore_database_url.replace("postgresql+asyncpg://", "postgresql://")


async def prepare_keystore(settings: Settings) -> None:
    """A fresh key store database for `settings`, at its newest schema."""
    from cdp.keys.store import KeyStore

    dsn = keystore_dsn(settings)
    await fresh_database(dsn, dsn.rsplit("/", 1)[1])
    store = KeyStore(settings)
    try:
        await store.upgrade()
    finally:
        await store.dispose()
