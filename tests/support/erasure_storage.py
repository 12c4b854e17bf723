"""Reading the database after an erasure: rows per table, stored bytes, suppressions, audit rows."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from cdp.audit.models import AuditEvent
from cdp.config import Settings
from cdp.db import Database
from cdp.keys import schema as keystore_schema
from cdp.keys.store import KeyStore
from cdp.models import metadata
from tests.conftest import TEST_KEYRING
from tests.support.erasure_people import Person, Spec
from tests.support.people import MINI
from tests.support.raw_bytes import raw_sqlite_bytes, stored_postgres_values

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
PROFILE_TABLES = [
    "identities",
    "profile_keys",
    "consents",
    "consent_history",
    "contacts",
    "profile_tags",
    "points_lots",
    "points_ledger",
    "coupons",
    "orders",
    "events",
    "data_keys",
    "wechat_follows",
    "wechat_subscribe_grants",
    "identity_reviews",
    "audience_membership_changes",
    "audience_queue",
    "data_export_links",
    "outbox",
]
PERSONAL_COLUMNS = (
    "union_id_bidx",
    "union_id_ct",
    "phone_bidx",
    "phone_ct",
    "name_ct",
    "address_ct",
    "birthday_ct",
)


def table(name: str) -> sa.Table:
    return keystore_schema.data_keys if name == "data_keys" else metadata.tables[name]


async def select_all(database: Database, name: str, *where: Any) -> list[dict[str, Any]]:
    if name == "data_keys":  # in the key store, apart from the database
        store = KeyStore(database.settings)
        try:
            async with store.engine.connect() as conn:
                found = await conn.execute(sa.select(table(name)).where(*where))
                return [dict(row) for row in found.mappings()]
        finally:
            await store.dispose()
    async with database.transaction() as session:
        rows = await session.execute(sa.select(table(name)).where(*where))
        return [dict(row) for row in rows.mappings()]


async def internal_id(database: Database, public_id: str) -> int:
    [row] = await select_all(database, "profiles", table("profiles").c.public_id == public_id)
    return int(row["id"])


async def rows_of(database: Database, profile_id: int) -> dict[str, int]:
    """How many rows of each table belong to the profile."""
    counts = {
        name: len(await select_all(database, name, table(name).c.profile_id == profile_id))
        for name in PROFILE_TABLES
    }
    counts["profile_merges"] = len(
        await select_all(
            database, "profile_merges", table("profile_merges").c.survivor_id == profile_id
        )
    )
    return counts


def hashes_of(person: Person) -> dict[str, bytes]:
    """The blind-index hashes of the person's identifiers, as the keyring computes them."""
    s = person.spec
    return {
        "phone": TEST_KEYRING.blind_index("phone", s.e164),
        "union": TEST_KEYRING.blind_index("union", s.union_id),
        "mini open_id": TEST_KEYRING.blind_index("open_id", s.mini_open_id),
        "official open_id": TEST_KEYRING.blind_index("open_id", s.official_open_id),
        "profile id": TEST_KEYRING.blind_index("profile", person.id),
        "merged profile id": TEST_KEYRING.blind_index("profile", person.merged_id),
    }


def holds(value: Any, needle: bytes | str) -> bool:
    """Whether a stored value holds the needle: bytes raw or as hex text, text as text."""
    if value is None:
        return False
    if isinstance(value, bytes | bytearray | memoryview):
        return isinstance(needle, bytes) and needle in bytes(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return (needle.hex() if isinstance(needle, bytes) else needle) in text.lower()


async def where_stored(
    database: Database, needles: dict[str, Any], *, skip: tuple[str, ...] = ()
) -> list[str]:
    """`table.column: what` for every stored value holding one of the needles."""
    found = []
    for name in metadata.tables:
        if name in skip:
            continue
        for row in await select_all(database, name):
            for column, value in row.items():
                found += [f"{name}.{column}: {w}" for w, n in needles.items() if holds(value, n)]
    return sorted(set(found))


async def stored_bytes(database: Database, settings: Settings, backend: str) -> bytes:
    """The raw SQLite file and its WAL, or every stored PostgreSQL text and binary value."""
    if backend == "sqlite":
        return raw_sqlite_bytes(settings)
    return await stored_postgres_values(database)


async def suppressions(database: Database) -> list[tuple[str, bytes]]:
    rows = await select_all(database, "suppressions")
    return sorted((str(getattr(r["kind"], "value", r["kind"])), bytes(r["bidx"])) for r in rows)


def expected_suppressions(person: Person) -> list[tuple[str, bytes]]:
    h = hashes_of(person)
    return sorted(
        [
            ("PHONE", h["phone"]),
            ("UNION_ID", h["union"]),
            ("OPEN_ID", h["mini open_id"]),
            ("OPEN_ID", h["official open_id"]),
            ("PROFILE", h["profile id"]),
            ("PROFILE", h["merged profile id"]),
        ]
    )


def expected_purge(seeded: dict[str, int], mode: str) -> dict[str, int]:
    """What the purge step must report for a person with these rows (nothing arrived late)."""
    purged = (
        {"late_suppressions": 0, "late_data_keys": 0, "webhooks_tombstoned": 0}
        | {
            name: seeded[name]
            for name in (
                "identities",
                "profile_keys",
                "consents",
                "consent_history",
                "contacts",
                "profile_tags",
                "points_lots",
                "points_ledger",
                "coupons",
                "wechat_follows",
                "wechat_subscribe_grants",
                "identity_reviews",
                "profile_merges",
                "audience_membership_changes",
                "audience_queue",
                "outbox",
            )
        }
        | {"data_export_links": 0}
    )  # the person's own copies: none asked for here
    if mode == "DELETE":
        return {
            **purged,
            "orders_tombstoned": seeded["orders"],
            "events": seeded["events"],
            "profiles": 1,
        }
    return {
        **purged,
        "orders_anonymized": seeded["orders"],
        "events_anonymized": seeded["events"],
        "profiles_anonymized": 1,
    }


SEEDED = {
    "identities": 2,
    # Public id, UnionID, phone; each identity's OpenID alone and in its app; the idempotency
    # keys of the three ledger entries and two coupons.
    "profile_keys": 12,
    "consents": 6,  # MARKETING in each of five channels, ANALYTICS by SMS
    "consent_history": 2,
    "contacts": 1,
    "profile_tags": 2,
    "points_lots": 2,
    "points_ledger": 3,
    "coupons": 2,
    "orders": 2,
    "events": 3,
    "wechat_follows": 0,  # pushes seed these (tests/wechat_push/test_push_suppression.py)
    "wechat_subscribe_grants": 0,
    "identity_reviews": 0,  # the identity rules' tests seed these (tests/test_identity_rules.py)
    "profile_merges": 1,
    "audience_membership_changes": 0,  # no audience is defined
    "audience_queue": 12,  # each write that changed the person queued them for the audiences
    "data_export_links": 0,  # the person's own copies (tests/test_privacy_centre.py)
    "outbox": 4,  # the domain events of their two orders and two consent changes
}


async def assert_nothing_stored(
    database: Database, settings: Settings, backend: str, person: Person, profile_id: int
) -> None:
    """No plaintext, no blind index, no data key of the person; their hashes only on the
    suppression list, once each."""
    stored = await stored_bytes(database, settings, backend)
    assert MINI.encode() in stored, "the scan must see what is stored in the clear"
    for canary in person.canaries():
        assert canary.encode() not in stored, f"{canary} stored in plaintext"
    hashes = hashes_of(person)
    for name in ("profiles", "identities"):
        for row in await select_all(database, name):
            for column, value in row.items():
                assert not any(holds(value, h) for h in hashes.values()), f"{name}.{column}"
    assert await where_stored(database, hashes, skip=("suppressions",)) == []
    assert await suppressions(database) == expected_suppressions(person)
    assert (
        await select_all(database, "data_keys", table("data_keys").c.profile_id == profile_id) == []
    )


ERASURE_ACTIONS = [
    "erasure.request",
    "erasure.approve",
    "erasure.collect",
    "erasure.suppress",
    "erasure.shred",
    "erasure.purge",
    "erasure.verify",
    "erasure.execute",
]


async def audit_rows(database: Database) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = await session.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))
        return [dict(row) for row in rows.mappings()]


def is_erasure(row: dict[str, Any]) -> bool:
    """A record of the erasure itself (not of listing requests)."""
    return bool(row["action"].startswith("erasure.") and row["action"] != "erasure.list")


def audit_text(row: dict[str, Any]) -> str:
    readable = {k: v for k, v in row.items() if k not in ("hash", "prev_hash")}
    return json.dumps(readable, default=str, ensure_ascii=False)


async def table_counts(database: Database) -> dict[str, int]:
    """Rows per table, but the audit log (refusals are audited)."""
    return {
        name: len(await select_all(database, name))
        for name in metadata.tables
        if name != "audit_events"
    }


async def orders_of(database: Database, spec: Spec) -> dict[str, dict[str, Any]]:
    rows = await select_all(database, "orders", table("orders").c.external_id.in_(spec.order_ids()))
    return {row["external_id"]: row for row in rows}
