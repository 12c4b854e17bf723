"""Moving data keys out of the database into the key store (`cdp migrate`, once per
installation that kept them in the database before revision 0006_keystore).

Each batch is copied with its ids (ciphertexts name their key by id), read back from the key
store and compared, and only then deleted from the database: a crash anywhere leaves every
key in one place or both, and a rerun finishes the move.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from cdp.db import Database
from cdp.keys.schema import data_keys
from cdp.keys.store import KeyStore

log = logging.getLogger("cdp.keys")


class KeyMoveError(Exception):
    """A key that reads back from the key store differently from the database's copy."""


async def _has_old_table(database: Database) -> bool:
    async with database.engine.connect() as conn:
        return await conn.run_sync(lambda c: sa.inspect(c).has_table("data_keys"))


async def move_keys_to_store(database: Database, store: KeyStore, *, batch_size: int = 2000) -> int:
    """Move every data key left in the database's `data_keys` table; how many moved."""
    if not await _has_old_table(database):
        return 0
    moved = 0
    while True:
        async with database.engine.begin() as conn:
            rows = [
                dict(row._mapping)
                for row in await conn.execute(
                    sa.select(data_keys).order_by(data_keys.c.id).limit(batch_size)
                )
            ]
            if not rows:
                break
            await store.import_keys(rows)
            stored = {key.id: key for key in await store.fetch([r["id"] for r in rows])}
            for row in rows:
                copy = stored.get(row["id"])
                if copy is None or (copy.kek_version, copy.wrapped, copy.profile_id) != (
                    row["kek_version"],
                    bytes(row["wrapped"]),
                    row["profile_id"],
                ):
                    raise KeyMoveError(
                        f"data key {row['id']} differs in the key store: nothing more is moved"
                    )
            await conn.execute(
                sa.delete(data_keys).where(data_keys.c.id.in_([r["id"] for r in rows]))
            )
        moved += len(rows)
    if moved:
        log.info("data keys moved to the key store", extra={"moved": moved})
    return moved
