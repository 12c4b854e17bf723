"""The key store's tables, apart from the database's metadata (and so from its migrations and
its backups): the data keys and the erasure journal, with a versioned create.

Ids are never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL): a ciphertext names
its data key by id, and the journal names destroyed keys by id.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from cdp.columns import UtcDateTime

SCHEMA_VERSION = 1

metadata = sa.MetaData()

data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.Integer, nullable=False, index=True),
    sa.Column("kek_version", sa.Integer, nullable=False, index=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("rewrapped_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

erasure_journal = sa.Table(
    "erasure_journal",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("mac", sa.LargeBinary(32), nullable=False),
)

schema_version = sa.Table(
    "keystore_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

_REFUSE = "the erasure journal is append-only"
_APPEND_ONLY = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS erasure_journal_no_{event} BEFORE {event.upper()} "
        f"ON erasure_journal BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        for event in ("update", "delete")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION erasure_journal_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$",
        "CREATE TRIGGER erasure_journal_no_change BEFORE UPDATE OR DELETE ON erasure_journal "
        "FOR EACH ROW EXECUTE FUNCTION erasure_journal_append_only()",
        "CREATE TRIGGER erasure_journal_no_truncate BEFORE TRUNCATE ON erasure_journal "
        "FOR EACH STATEMENT EXECUTE FUNCTION erasure_journal_append_only()",
    ],
}


def _version_1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[data_keys, erasure_journal])
    for statement in _APPEND_ONLY[conn.dialect.name]:
        conn.exec_driver_sql(statement)


# Each step brings the schema from the version before it; never edit a landed step.
STEPS: dict[int, Callable[[sa.Connection], None]] = {1: _version_1}


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def upgrade(conn: sa.Connection) -> int:
    """Bring the key store to SCHEMA_VERSION (in the caller's transaction); the version before."""
    before = current_version(conn)
    if before == 0:
        metadata.create_all(conn, tables=[schema_version])
    for version in range(before + 1, SCHEMA_VERSION + 1):
        STEPS[version](conn)
        conn.execute(sa.delete(schema_version))
        conn.execute(sa.insert(schema_version).values(version=version))
    return before
