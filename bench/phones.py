"""People findable by phone, in bulk: each with their own data key (wrapped by the keyring's
KEK), a sealed phone and name, and the phone's blind index, all computed with cdp.crypto
exactly as cdp writes them, then written with COPY. Person `i` has phone +86 139 i (8 digits)
and joined `i % 730` days ago.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import asyncpg

from bench.bulk import refill_directory
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
                now - timedelta(days=person % 730),  # joined over the last two years
                now,
            )
        )
        keys.append((kid, pid, version, wrapped, now))
    return profiles, keys


@lru_cache(maxsize=1)
def _keyring(text: str) -> Keyring:
    return Keyring.from_json(text)


def _rows_elsewhere(
    keyring_json: str, first_person: int, count: int, profile_id: int, key_id: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """`_rows` in a worker process (the keyring travels as its JSON)."""
    return _rows(_keyring(keyring_json), first_person, count, profile_id, key_id)


async def seed_phones(
    dsn: str, keyring: Keyring, *, upto: int, keys_dsn: str, processes: int = 1
) -> int:
    """Add people until `upto` of them are findable by phone (their data keys in the key
    store at `keys_dsn`); how many there are now. With `processes` > 1 the rows are made in
    that many worker processes while the previous chunks are written."""
    if processes > 1 and upto > CHUNK:
        return await _seed_in_parallel(dsn, keyring, upto=upto, keys_dsn=keys_dsn, n=processes)
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
            await _write(conn, keys_conn, profiles, keys)
            have += count
        await _finish(conn, keys_conn)
        return have
    finally:
        await conn.close()
        await keys_conn.close()


async def _seed_in_parallel(dsn: str, keyring: Keyring, *, upto: int, keys_dsn: str, n: int) -> int:
    conn = await asyncpg.connect(dsn)
    keys_conn = await asyncpg.connect(keys_dsn)
    loop = asyncio.get_running_loop()
    try:
        have = int(
            await conn.fetchval("SELECT count(*) FROM profiles WHERE phone_bidx IS NOT NULL")
        )
        profile_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM profiles")) + 1
        key_id = int(await keys_conn.fetchval("SELECT coalesce(max(id), 0) FROM data_keys")) + 1
        offsets = list(range(0, upto - have, CHUNK))
        with ProcessPoolExecutor(n) as pool:

            def start(offset: int) -> asyncio.Future[Any]:
                count = min(CHUNK, upto - have - offset)
                return loop.run_in_executor(
                    pool,
                    _rows_elsewhere,
                    keyring.to_json(),
                    have + offset,
                    count,
                    profile_id + offset,
                    key_id + offset,
                )

            # A window of 2n chunks in the making: the workers stay busy, memory stays bounded.
            waiting = deque(offsets)
            pending = deque(start(waiting.popleft()) for _ in range(min(2 * n, len(offsets))))
            while pending:
                profiles, keys = await pending.popleft()  # in order: ids stay dense
                if waiting:
                    pending.append(start(waiting.popleft()))
                await _write(conn, keys_conn, profiles, keys)
        await _finish(conn, keys_conn)
        return upto
    finally:
        await conn.close()
        await keys_conn.close()


async def _write(
    conn: asyncpg.Connection, keys_conn: asyncpg.Connection, profiles: list[Any], keys: list[Any]
) -> None:
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


async def _finish(conn: asyncpg.Connection, keys_conn: asyncpg.Connection) -> None:
    for table, on in (("profiles", conn), ("data_keys", keys_conn)):
        await on.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    await refill_directory(conn)
    await conn.execute("VACUUM ANALYZE profiles")
    await conn.execute("ANALYZE profile_keys")
    await keys_conn.execute("VACUUM ANALYZE data_keys")
