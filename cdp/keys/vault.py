"""The vault: seals and opens personal values under per-profile data keys.

One vault per unit of work: unwrapped keys live only as long as the request or command, so a
key destroyed by erasure is never served from a cache afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import KeysView, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.crypto import KEY_BYTES, CryptoError, Keyring, data_key_id_of, field_aad, open_sealed, seal
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore, StoredKey


class Vault:
    """Seals with the keyring's KEKs and the key store's data keys. Methods take the unit of
    work's session for the values they seal; the keys themselves come from the key store."""

    def __init__(self, source: KeyringSource, store: KeyStore) -> None:
        self.source = source
        self.store = store
        self._keys: dict[int, bytes] = {}
        self._current: dict[int, int] = {}
        self._new: set[int] = set()
        self._creating = asyncio.Lock()

    def new_profile(self, profile_id: int) -> None:
        """A profile created in this unit of work has no data key yet: none to look up."""
        self._new.add(profile_id)

    @property
    def keyring(self) -> Keyring:
        return self.source.keyring

    def blind_index(self, kind: str, normalized: str) -> bytes:
        return self.keyring.blind_index(kind, normalized)

    @property
    def loaded_keys(self) -> KeysView[int]:
        """Ids of the data keys unwrapped in this unit of work."""
        return self._keys.keys()

    def forget(self) -> None:
        """Drop every unwrapped key (after erasure destroyed some)."""
        self._keys.clear()
        self._current.clear()

    def _unwrap(self, row: StoredKey) -> bytes:
        try:
            return self.keyring.unwrap(row.wrapped, kek_version=row.kek_version, data_key_id=row.id)
        except CryptoError:
            if row.kek_version in self.keyring.keks:
                raise
            # Another process rotated: learn the new version and try once more.
            return self.source.refresh().unwrap(
                row.wrapped, kek_version=row.kek_version, data_key_id=row.id
            )

    async def _current_key(self, profile_id: int) -> int:
        if profile_id in self._current:
            return self._current[profile_id]
        async with self._creating:  # concurrent resolvers: one new key per profile, not two
            if profile_id in self._current:
                return self._current[profile_id]
            row = None if profile_id in self._new else await self.store.newest(profile_id)
            if row is None:
                key = secrets.token_bytes(KEY_BYTES)
                key_id = await self.store.create(
                    profile_id, lambda i: self.keyring.wrap(key, data_key_id=i)
                )
            else:
                key, key_id = self._unwrap(row), row.id
            self._keys[key_id] = key
            self._current[profile_id] = key_id
            return key_id

    async def load_keys(self, session: AsyncSession | None, data_key_ids: Sequence[int]) -> None:
        """Unwrap many data keys with one key-store statement (those not cached yet)."""
        del session  # the keys live in the key store
        wanted = [i for i in set(data_key_ids) if i not in self._keys]
        for row in await self.store.fetch(wanted):
            self._keys[row.id] = self._unwrap(row)

    async def _key(self, data_key_id: int) -> bytes:
        key = self._keys.get(data_key_id)
        if key is None:
            rows = await self.store.fetch([data_key_id])
            if not rows:
                raise CryptoError(f"data key {data_key_id} no longer exists (erased)")
            key = self._keys[data_key_id] = self._unwrap(rows[0])
        return key

    async def encrypt(
        self,
        session: AsyncSession,
        value: str,
        *,
        profile_id: int,
        table: str,
        column: str,
        row_id: int | str,
    ) -> bytes:
        """Seal `value` under the profile's newest data key, bound to table, column and row."""
        del session  # the keys live in the key store
        data_key_id = await self._current_key(profile_id)
        return seal(
            self._keys[data_key_id],
            value.encode("utf-8"),
            data_key_id=data_key_id,
            aad=field_aad(table, column, row_id),
        )

    def decrypt_loaded(
        self, blob: bytes, *, table: str, column: str, row_id: int | str
    ) -> str | None:
        """`decrypt` without a statement: None when the blob's data key is not unwrapped yet."""
        key = self._keys.get(data_key_id_of(blob))
        if key is None:
            return None
        return open_sealed(key, blob, aad=field_aad(table, column, row_id)).decode("utf-8")

    async def decrypt(
        self, session: AsyncSession, blob: bytes, *, table: str, column: str, row_id: int | str
    ) -> str:
        del session  # the keys live in the key store
        key = await self._key(data_key_id_of(blob))
        return open_sealed(key, blob, aad=field_aad(table, column, row_id)).decode("utf-8")
