"""The vault: seals and opens personal values under per-profile data keys.

One vault per unit of work: unwrapped keys live only as long as the request or command, so a
key destroyed by erasure is never served from a cache afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import KeysView, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.crypto import KEY_BYTES, CryptoError, Keyring, data_key_id_of, field_aad, open_sealed, seal
from cdp.db import utcnow
from cdp.keys.models import DataKey
from cdp.keys.source import KeyringSource

_KEYS: sa.Table = DataKey.__table__  # type: ignore[attr-defined]
_NEW_KEY = (
    sa.insert(_KEYS)
    .values(
        profile_id=sa.bindparam("profile_id"),
        kek_version=0,
        wrapped=b"",
        created_at=sa.bindparam("at"),
    )
    .returning(_KEYS.c.id)
)
_WRAP_KEY = (
    sa.update(_KEYS)
    .where(_KEYS.c.id == sa.bindparam("key_id"))
    .values(kek_version=sa.bindparam("version"), wrapped=sa.bindparam("wrapped"))
)


class Vault:
    def __init__(self, source: KeyringSource) -> None:
        self.source = source
        self._keys: dict[int, bytes] = {}
        self._current: dict[int, int] = {}
        self._new: set[int] = set()

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

    async def _unwrap(self, row: DataKey) -> bytes:
        assert row.id is not None
        try:
            return self.keyring.unwrap(row.wrapped, kek_version=row.kek_version, data_key_id=row.id)
        except CryptoError:
            if row.kek_version in self.keyring.keks:
                raise
            # Another process rotated: learn the new version and try once more.
            return self.source.refresh().unwrap(
                row.wrapped, kek_version=row.kek_version, data_key_id=row.id
            )

    async def _current_key(self, session: AsyncSession, profile_id: int) -> int:
        if profile_id in self._current:
            return self._current[profile_id]
        row = (
            None
            if profile_id in self._new
            else await session.scalar(
                sa.select(DataKey)
                .where(col(DataKey.profile_id) == profile_id)
                .order_by(col(DataKey.id).desc())
                .limit(1)
            )
        )
        if row is None:
            key = secrets.token_bytes(KEY_BYTES)
            # Plain statements: the row is wanted for its id only (the wrap is bound to it),
            # and two ORM flushes cost more than the INSERT and UPDATE they send.
            key_id = int(
                (
                    await session.execute(_NEW_KEY, {"profile_id": profile_id, "at": utcnow()})
                ).scalar_one()
            )
            version, wrapped = self.keyring.wrap(key, data_key_id=key_id)
            await session.execute(
                _WRAP_KEY, {"key_id": key_id, "version": version, "wrapped": wrapped}
            )
        else:
            assert row.id is not None
            key, key_id = await self._unwrap(row), row.id
        self._keys[key_id] = key
        self._current[profile_id] = key_id
        return key_id

    async def load_keys(self, session: AsyncSession, data_key_ids: Sequence[int]) -> None:
        """Unwrap many data keys with one statement (those not cached yet)."""
        wanted = [i for i in set(data_key_ids) if i not in self._keys]
        if not wanted:
            return
        rows = await session.scalars(sa.select(DataKey).where(col(DataKey.id).in_(wanted)))
        for row in rows:
            assert row.id is not None
            self._keys[row.id] = await self._unwrap(row)

    async def _key(self, session: AsyncSession, data_key_id: int) -> bytes:
        key = self._keys.get(data_key_id)
        if key is None:
            row = await session.get(DataKey, data_key_id)
            if row is None:
                raise CryptoError(f"data key {data_key_id} no longer exists (erased)")
            key = self._keys[data_key_id] = await self._unwrap(row)
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
        data_key_id = await self._current_key(session, profile_id)
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
        key = await self._key(session, data_key_id_of(blob))
        return open_sealed(key, blob, aad=field_aad(table, column, row_id)).decode("utf-8")
