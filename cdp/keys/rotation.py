"""Key rotation and retirement: a new KEK version, every data key rewrapped under it in
batches, then the old version removed from the keyring.

Resumable: the keyring file is written (atomically) before any data key changes, and each
batch commits on its own, so a rerun after an interruption rewraps only what is left. Old
versions stay in the keyring, so every data key is readable at every moment, until
`retire_version` removes one that no key needs any more: from then on a key-store backup
whose keys it wrapped is unreadable as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdp.crypto import Keyring, KeyringError
from cdp.db import Database
from cdp.keys.store import KeyStore, StoredKey
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

    def blocking_retirement(self, version: int) -> int:
        """Data keys that keep `version` from being retired (it wraps them)."""
        return self.data_keys_by_version.get(version, 0)


class RetirementRefused(Exception):
    """A KEK version that cannot go yet; the message says why, for an operator."""


async def record_rotation(
    database: Database, keyring: Keyring, *, operator: str | None = None
) -> None:
    """Audit that a KEK version was added (the rewraps are audited batch by batch)."""
    trail = operator_trail(keyring, operator)
    trail.record(action="key.rotate", detail={"kekVersion": keyring.active_version})
    async with audited_transaction(database, trail):
        pass


async def key_status(store: KeyStore, keyring: Keyring) -> KeyStatus:
    return KeyStatus(
        versions=tuple(sorted(keyring.keks)),
        active=keyring.active_version,
        development=keyring.development,
        data_keys_by_version=await store.counts_by_version(),
    )


async def rewrap_pending(
    database: Database,
    store: KeyStore,
    keyring: Keyring,
    *,
    operator: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda _n: None,
) -> int:
    """Rewrap every data key below the active version; how many were rewrapped. Each batch
    commits in the key store, then its audit record commits in the database."""
    active, done = keyring.active_version, 0

    def rewrap(row: StoredKey) -> tuple[int, bytes]:
        key = keyring.unwrap(row.wrapped, kek_version=row.kek_version, data_key_id=row.id)
        return keyring.wrap(key, data_key_id=row.id)

    while True:
        rewrapped = await store.rewrap(rewrap, active=active, limit=batch_size)
        if not rewrapped:
            return done
        trail = operator_trail(keyring, operator)
        trail.record(action="key.rewrap", detail={"kekVersion": active, "dataKeys": rewrapped})
        async with audited_transaction(database, trail):
            pass
        done += rewrapped
        progress(rewrapped)


async def retire_version(
    database: Database,
    store: KeyStore,
    keyring: Keyring,
    *,
    path: Path,
    version: int,
    operator: str | None = None,
) -> Keyring:
    """Remove KEK `version` from the keyring file at `path` (atomically), once no data key is
    wrapped by it; the keyring without it. Refuses the active version."""
    if version not in keyring.keks:
        raise RetirementRefused(f"the keyring has no KEK version {version}")
    if version == keyring.active_version:
        raise RetirementRefused(
            f"v{version} is the active version: rotate first (`cdp keys rotate`)"
        )
    blocking = (await key_status(store, keyring)).blocking_retirement(version)
    if blocking:
        raise RetirementRefused(
            f"v{version} still wraps {blocking} data keys: finish the rewrap (`cdp keys rotate`)"
        )
    try:
        retired = keyring.without_version(version)
    except KeyringError as exc:
        raise RetirementRefused(str(exc)) from None
    trail = operator_trail(keyring, operator)
    trail.record(action="key.retire", detail={"kekVersion": version})
    # Audited first: a retirement that happened is never missing from the log.
    async with audited_transaction(database, trail):
        pass
    retired.save(path)
    return retired
