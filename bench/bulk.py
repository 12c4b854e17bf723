"""Bulk seeding for benchmarks: a brand's worth of people, orders and events written with
PostgreSQL COPY (the services would take hours for a million rows). The values are
synthetic but shaped like production: sealed columns hold random bytes, blind indexes are
unique 32-byte values, times spread over the past year."""

from __future__ import annotations

import json
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from cdp.profiles.directory import FILL_SQL

CHANNELS = ("MINI_PROGRAM", "OFFICIAL_ACCOUNT", "CHANNELS", "WEB")
SOURCES = (None, "menu", "article", "video", "moments", "search")
EVENT_TYPES = ("article_read", "menu_click", "video_view", "page_view", "product_view")


def _ago(rng: random.Random, now: datetime, days: int) -> datetime:
    return now - timedelta(seconds=rng.uniform(0, days * 86400))


# cdp keeps event ids in event_keys (cdp.events.keys): ingest's dedup must know these too.
EVENT_KEYS = (
    "INSERT INTO event_keys (event_id, occurred_at) SELECT event_id, occurred_at FROM events "
    "ON CONFLICT DO NOTHING"
)


async def seed(dsn: str, *, profiles: int, events: int, seed: int = 7) -> None:
    """`profiles` people (1-3 identities, ~1 order each) and `events` events among them."""
    rng, now = random.Random(seed), datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        start = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM profiles")) + 1
        ids = range(start, start + profiles)
        created = {i: _ago(rng, now, 400) for i in ids}
        await conn.copy_records_to_table(
            "profiles",
            columns=[
                "id",
                "public_id",
                "union_id_bidx",
                "tier",
                "phone_bidx",
                "phone_ct",
                "name_ct",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    i,
                    str(uuid.uuid4()),
                    secrets.token_bytes(32),
                    "STANDARD",
                    secrets.token_bytes(32),
                    secrets.token_bytes(48),
                    secrets.token_bytes(40),
                    created[i],
                    created[i],
                )
                for i in ids
            ],
        )
        identities: list[tuple[Any, ...]] = []
        for i in ids:
            for n, channel in enumerate(rng.sample(CHANNELS, rng.choice((1, 2, 2, 3)))):
                at = created[i] + timedelta(days=n * rng.randrange(20))
                identities.append(
                    (
                        i,
                        channel,
                        f"wx{channel[:8].lower():0<16}",
                        secrets.token_bytes(32),
                        secrets.token_bytes(44),
                        at,
                        at,
                    )
                )
        await conn.copy_records_to_table(
            "identities",
            columns=[
                "profile_id",
                "channel",
                "app_id",
                "open_id_bidx",
                "open_id_ct",
                "linked_at",
                "last_seen_at",
            ],
            records=identities,
        )
        orders = []
        for n, i in enumerate(rng.choices(list(ids), k=profiles)):
            total, at = rng.randrange(1500, 30000), created[i] + timedelta(days=rng.randrange(60))
            source = rng.choice(SOURCES)
            orders.append(
                (
                    str(uuid.uuid4()),
                    i,
                    rng.choice(CHANNELS),
                    f"bulk-{start}-{n}",
                    rng.choice(("PAID", "SHIPPED", "COMPLETED", "COMPLETED", "REFUNDED")),
                    total,
                    0,
                    0,
                    total,
                    source,
                    json.dumps({"id": str(n % 50)}),
                    min(at, now),
                    at,
                    at,
                )
            )
        await conn.copy_records_to_table(
            "orders",
            columns=[
                "public_id",
                "profile_id",
                "channel",
                "external_id",
                "status",
                "items_fen",
                "discount_fen",
                "shipping_fen",
                "total_fen",
                "entry_from",
                "entry_params",
                "paid_at",
                "created_at",
                "updated_at",
            ],
            records=orders,
        )
        rows = []
        for n in range(events):
            i = start + rng.randrange(profiles)
            at = min(created[i] + timedelta(seconds=rng.uniform(0, 90 * 86400)), now)
            rows.append(
                (
                    f"bulk-{start}-{n}",
                    i,
                    rng.choice(EVENT_TYPES),
                    rng.choice(CHANNELS[:3]),
                    rng.choice(SOURCES),
                    "{}",
                    "{}",
                    at,
                    at,
                )
            )
        await conn.copy_records_to_table(
            "events",
            columns=[
                "event_id",
                "profile_id",
                "type",
                "channel",
                "entry_from",
                "entry_params",
                "properties",
                "occurred_at",
                "received_at",
            ],
            records=rows,
        )
        for table in ("profiles", "identities", "orders", "events"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute(EVENT_KEYS)
        await refill_directory(conn)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def refill_directory(conn: asyncpg.Connection) -> None:
    """The directory of lookup keys (cdp/profiles/directory.py) for rows written by COPY,
    which its flush hook never sees: rebuilt whole."""
    await conn.execute("TRUNCATE profile_keys")
    for statement in FILL_SQL:
        await conn.execute(statement)


async def orders_and_events_for(dsn: str, profile_id: int, *, orders: int, events: int) -> None:
    """Give one person a long history (for the erasure benchmark)."""
    rng, now = random.Random(profile_id), datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "orders",
            columns=[
                "public_id",
                "profile_id",
                "channel",
                "external_id",
                "status",
                "items_fen",
                "discount_fen",
                "shipping_fen",
                "total_fen",
                "entry_params",
                "paid_at",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    str(uuid.uuid4()),
                    profile_id,
                    "MINI_PROGRAM",
                    f"long-{profile_id}-{n}",
                    "COMPLETED",
                    3200,
                    0,
                    0,
                    3200,
                    "{}",
                    _ago(rng, now, 300),
                    now,
                    now,
                )
                for n in range(orders)
            ],
        )
        await conn.copy_records_to_table(
            "events",
            columns=[
                "event_id",
                "profile_id",
                "type",
                "channel",
                "entry_params",
                "properties",
                "occurred_at",
                "received_at",
            ],
            records=[
                (
                    f"long-{profile_id}-{n}",
                    profile_id,
                    "page_view",
                    "MINI_PROGRAM",
                    "{}",
                    "{}",
                    _ago(rng, now, 300),
                    now,
                )
                for n in range(events)
            ],
        )
        await conn.execute(EVENT_KEYS)
    finally:
        await conn.close()
