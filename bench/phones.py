"""People findable by phone, in bulk: each with their own data key (wrapped by the keyring's
KEK), a sealed phone and name, and the phone's blind index, all computed with cdp.crypto
exactly as cdp writes them, then written with COPY. Person `i` has phone +86 139 i (8 digits).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cdp.crypto import KEY_BYTES, Keyring, field_aad, seal

CHUNK = 50_000
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超"


def phone_of(i: int) -> str:
    """The national form a support agent types; cdp normalises it to E.164."""
    return f"139{i:08d}"


def _aad(profile_id: int, column: str) -> bytes:
    return field_aad("profiles", column, profile_id)


def _rows(
    keyring: Keyring, first_person: int, count: int, profile_id: int, key_id: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    now = datetime.now(UTC)
    profiles, keys = [], []
    for n in range(count):
        person, pid, kid = first_person + n, profile_id + n, key_id + n
        key = secrets.token_bytes(KEY_BYTES)
        version, wrapped = keyring.wrap(key, data_key_id=kid)
        phone = "+86" + phone_of(person)
        name = SURNAMES[person % 10] + GIVEN[(person // 10) % 18] + GIVEN[(person // 180) % 18]
        profiles.append(
            (
                pid,
                str(uuid.uuid4()),
                "STANDARD",
                keyring.blind_index("phone", phone),
                seal(
                    key, phone.encode(), data_key_id=kid, aad=field_aad("profiles", "phone_ct", pid)
                ),
                seal(
                    key, name.encode(), data_key_id=kid, aad=field_aad("profiles", "name_ct", pid)
                ),
                now,
                now,
            )
        )
        keys.append((kid, pid, version, wrapped, now))
    return profiles, keys


async def seed_phones(dsn: str, keyring: Keyring, *, upto: int, keys_dsn: str) -> int:
    """Add people until `upto` of them are findable by phone (their data keys in the key
    store at `keys_dsn`); how many there are now."""
    conn = await asyncpg.connect(dsn)
    keys_conn = await asyncpg.connect(keys_dsn)
    try:
        have = int(
            await conn.fetchval("SELECT count(*) FROM profiles WHERE phone_bidx IS NOT NULL")
        )
        while have < upto:
            count = min(CHUNK, upto - have)
            profile_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM profiles")) + 1
            key_id = int(await keys_conn.fetchval("SELECT coalesce(max(id), 0) FROM data_keys")) + 1
            profiles, keys = _rows(keyring, have, count, profile_id, key_id)
            await keys_conn.copy_records_to_table(
                "data_keys",
                columns=["id", "profile_id", "kek_version", "wrapped", "created_at"],
                records=keys,
            )
            await conn.copy_records_to_table(
                "profiles",
                columns=[
                    "id",
                    "public_id",
                    "tier",
                    "phone_bidx",
                    "phone_ct",
                    "name_ct",
                    "created_at",
                    "updated_at",
                ],
                records=profiles,
            )
            have += count
        for table, on in (("profiles", conn), ("data_keys", keys_conn)):
            await on.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        await conn.execute("VACUUM ANALYZE profiles")
        await keys_conn.execute("VACUUM ANALYZE data_keys")
        return have
    finally:
        await conn.close()
        await keys_conn.close()
