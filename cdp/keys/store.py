"""The key store: per-profile data keys (wrapped) in a database of their own, so that a backup
of the database holds ciphertext and no key to open it.

Every operation is one short transaction of its own, committed before the caller goes on: a
new key is durable before the unit of work that seals with it commits (a rollback leaves an
unused key, which is harmless; the reverse would leave data no key opens). Statements run to
completion even when the caller is cancelled, as the database's do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cdp.config import Settings
from cdp.db import create_engine, lock_key, run_to_completion, utcnow
from cdp.keys import schema
from cdp.keys.schema import data_keys
from cdp.sqlite_writers import reading

T = TypeVar("T")
Wrap = Callable[[int], tuple[int, bytes]]  # data-key id -> (KEK version, wrapped key)

_NEW_KEY = (
    sa.insert(data_keys)
    .values(
        profile_id=sa.bindparam("profile_id"),
        kek_version=0,
        wrapped=b"",
        created_at=sa.bindparam("at"),
    )
    .returning(data_keys.c.id)
)
_WRAP_KEY = (
    sa.update(data_keys)
    .where(data_keys.c.id == sa.bindparam("key_id"))
    .values(kek_version=sa.bindparam("version"), wrapped=sa.bindparam("wrapped"))
)
_COLUMNS = (data_keys.c.id, data_keys.c.profile_id, data_keys.c.kek_version, data_keys.c.wrapped)
_BY_IDS = sa.select(*_COLUMNS).where(data_keys.c.id.in_(sa.bindparam("ids", expanding=True)))
_NEWEST = (
    sa.select(*_COLUMNS)
    .where(data_keys.c.profile_id == sa.bindparam("profile_id"))
    .order_by(data_keys.c.id.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A data key as stored: wrapped by KEK `kek_version`, bound to its id."""

    id: int
    profile_id: int
    kek_version: int
    wrapped: bytes


def _keys(rows: Iterable[Any]) -> list[StoredKey]:
    return [StoredKey(int(r[0]), int(r[1]), int(r[2]), bytes(r[3])) for r in rows]


def _private_sqlite_file(url: str) -> None:
    """A SQLite key store's file is created readable by its owner only, like the keyring
    (SQLite gives its -wal and -shm files the database file's mode)."""
    if not url.startswith("sqlite"):
        return
    path = Path(url.split("///", 1)[-1])
    if str(path) in ("", ":memory:") or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # an empty file is an empty db


class KeyStore:
    """The engine of the key store (`CDP_KEYSTORE_URL`) and what is done with its keys."""

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.url = url or settings.keystore_database_url
        _private_sqlite_file(self.url)
        self.engine: AsyncEngine = create_engine(settings, url=self.url)
        # Reads are one statement each: on PostgreSQL without BEGIN and ROLLBACK around it
        # (`me` reads its keys on every request), on SQLite off the writers' queue.
        self.reader: AsyncEngine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else reading(self.engine)
        )
        if self.engine.dialect.name == "sqlite":
            # A lost key is lost data: every commit reaches the disk, not only the WAL.
            @event.listens_for(self.engine.sync_engine, "connect")
            def _durable(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        return await run_to_completion(work())

    @asynccontextmanager
    async def writing(self, *lock: str) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends; `lock` serialises writers
        of that name on PostgreSQL (SQLite's BEGIN IMMEDIATE serialises every writer)."""
        async with self.engine.begin() as conn:
            if lock and self.dialect == "postgresql":
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(*lock)}
                )
            yield conn

    async def upgrade(self) -> int:
        """Create or upgrade the key store's schema; the version it had before."""

        async def work() -> int:
            async with self.writing("keystore-schema") as conn:
                return await conn.run_sync(schema.upgrade)

        return await self.run(work)

    async def version(self) -> int:
        async def work() -> int:
            async with self.reader.connect() as conn:
                return await conn.run_sync(schema.current_version)

        return await self.run(work)

    # --- data keys ------------------------------------------------------------------------

    async def create(self, profile_id: int, wrap: Wrap) -> int:
        """A new data key of `profile_id`, wrapped by `wrap` (bound to the id it gets)."""

        async def work() -> int:
            async with self.writing() as conn:
                key_id = int(
                    (
                        await conn.execute(_NEW_KEY, {"profile_id": profile_id, "at": utcnow()})
                    ).scalar_one()
                )
                version, wrapped = wrap(key_id)
                await conn.execute(
                    _WRAP_KEY, {"key_id": key_id, "version": version, "wrapped": wrapped}
                )
            return key_id

        return await self.run(work)

    async def newest(self, profile_id: int) -> StoredKey | None:
        async def work() -> StoredKey | None:
            async with self.reader.connect() as conn:
                found = _keys(await conn.execute(_NEWEST, {"profile_id": profile_id}))
            return found[0] if found else None

        return await self.run(work)

    async def fetch(self, ids: Sequence[int]) -> list[StoredKey]:
        """The keys with these ids (one statement); destroyed ones are simply absent."""
        if not ids:
            return []

        async def work() -> list[StoredKey]:
            async with self.reader.connect() as conn:
                return _keys(await conn.execute(_BY_IDS, {"ids": list(ids)}))

        return await self.run(work)

    async def ids_of(self, profile_ids: Iterable[int]) -> list[int]:
        wanted = sorted(set(profile_ids))
        if not wanted:
            return []

        async def work() -> list[int]:
            async with self.reader.connect() as conn:
                rows = await conn.execute(
                    sa.select(data_keys.c.id)
                    .where(data_keys.c.profile_id.in_(wanted))
                    .order_by(data_keys.c.id)
                )
                return [int(i) for i in rows.scalars()]

        return await self.run(work)

    async def destroy(self, ids: Iterable[int]) -> int:
        """Delete these keys for good; how many there were."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0

        async def work() -> int:
            removed = 0
            async with self.writing() as conn:
                for start in range(0, len(wanted), 5000):
                    result = await conn.execute(
                        sa.delete(data_keys).where(data_keys.c.id.in_(wanted[start : start + 5000]))
                    )
                    removed += int(result.rowcount or 0)
            return removed

        return await self.run(work)

    async def reassign(self, loser_id: int, survivor_id: int) -> int:
        """A merge: the loser's keys now belong to the survivor (and die with it)."""

        async def work() -> int:
            async with self.writing() as conn:
                result = await conn.execute(
                    sa.update(data_keys)
                    .where(data_keys.c.profile_id == loser_id)
                    .values(profile_id=survivor_id)
                )
            return int(result.rowcount or 0)

        return await self.run(work)

    async def counts_by_version(self) -> dict[int, int]:
        async def work() -> dict[int, int]:
            async with self.reader.connect() as conn:
                rows = await conn.execute(
                    sa.select(data_keys.c.kek_version, sa.func.count()).group_by(
                        data_keys.c.kek_version
                    )
                )
                return {int(version): int(n) for version, n in rows}

        return await self.run(work)

    async def rewrap(
        self, rewrap: Callable[[StoredKey], tuple[int, bytes]], *, active: int, limit: int
    ) -> int:
        """Rewrap up to `limit` keys not under `active` in one transaction; how many."""

        async def work() -> int:
            async with self.writing("keystore-rewrap") as conn:
                query = (
                    sa.select(*_COLUMNS)
                    .where(data_keys.c.kek_version != active)
                    .order_by(data_keys.c.id)
                    .limit(limit)
                )
                if self.dialect == "postgresql":
                    query = query.with_for_update()
                rows, now = _keys(await conn.execute(query)), utcnow()
                for row in rows:
                    version, wrapped = rewrap(row)
                    await conn.execute(
                        sa.update(data_keys)
                        .where(data_keys.c.id == row.id)
                        .values(kek_version=version, wrapped=wrapped, rewrapped_at=now)
                    )
            return len(rows)

        return await self.run(work)

    async def import_keys(self, rows: Sequence[dict[str, Any]]) -> int:
        """Take in keys moved from elsewhere with their ids (kept: ciphertexts name them);
        ids already present are left alone. How many were new."""
        if not rows:
            return 0

        async def work() -> int:
            async with self.writing("keystore-import") as conn:
                present = set(
                    (
                        await conn.execute(
                            sa.select(data_keys.c.id).where(
                                data_keys.c.id.in_([r["id"] for r in rows])
                            )
                        )
                    ).scalars()
                )
                new = [r for r in rows if r["id"] not in present]
                if new:
                    await conn.execute(sa.insert(data_keys), new)
                if self.dialect == "postgresql":
                    # Keys made from now on must not take an id a moved key holds.
                    await conn.execute(
                        sa.text(
                            "SELECT setval(pg_get_serial_sequence('data_keys', 'id'), "
                            "GREATEST((SELECT max(id) FROM data_keys), 1))"
                        )
                    )
            return len(new)

        return await self.run(work)
