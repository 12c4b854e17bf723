"""Key rotation: a new KEK version, then every data key rewrapped under it, in batches.

Resumable: the keyring file is written (atomically) before any data key changes, and each
batch commits on its own, so a rerun after an interruption rewraps only what is left. Old
versions stay in the keyring, so every data key is readable at every moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col

from cdp.crypto import Keyring
from cdp.db import Database, utcnow
from cdp.keys.models import DataKey
from cdp.unit_of_work import audited_transaction, operator_trail


@dataclass(frozen=True)
class KeyStatus:
    versions: tuple[int, ...]
    active: int
    development: bool
    data_keys_by_version: dict[int, int]

    @property
    def pending(self) -> int:
        """Data keys not yet wrapped by the active version."""
        return sum(n for v, n in self.data_keys_by_version.items() if v != self.active)


async def record_rotation(
    database: Database, keyring: Keyring, *, operator: str | None = None
) -> None:
    """Audit that a KEK version was added (the rewraps are audited batch by batch)."""
    trail = operator_trail(keyring, operator)
    trail.record(action="key.rotate", detail={"kekVersion": keyring.active_version})
    async with audited_transaction(database, trail):
        pass


async def key_status(database: Database, keyring: Keyring) -> KeyStatus:
    async with database.transaction() as session:
        rows = await session.execute(
            sa.select(col(DataKey.kek_version), sa.func.count()).group_by(col(DataKey.kek_version))
        )
        counts = {int(version): int(n) for version, n in rows}
    return KeyStatus(
        versions=tuple(sorted(keyring.keks)),
        active=keyring.active_version,
        development=keyring.development,
        data_keys_by_version=counts,
    )


async def rewrap_pending(
    database: Database,
    keyring: Keyring,
    *,
    operator: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda _n: None,
) -> int:
    """Rewrap every data key below the active version; how many were rewrapped."""
    active, done, after = keyring.active_version, 0, 0
    while True:
        trail = operator_trail(keyring, operator)
        async with audited_transaction(database, trail) as session:
            rows = (
                await session.scalars(
                    sa.select(DataKey)
                    .where(col(DataKey.kek_version) != active, col(DataKey.id) > after)
                    .order_by(col(DataKey.id))
                    .limit(batch_size)
                    .with_for_update()
                )
            ).all()
            if not rows:
                return done
            now = utcnow()
            for row in rows:
                assert row.id is not None
                key = keyring.unwrap(row.wrapped, kek_version=row.kek_version, data_key_id=row.id)
                row.kek_version, row.wrapped = keyring.wrap(key, data_key_id=row.id)
                row.rewrapped_at = now
            after = rows[-1].id or after
            trail.record(action="key.rewrap", detail={"kekVersion": active, "dataKeys": len(rows)})
        done += len(rows)
        progress(len(rows))
