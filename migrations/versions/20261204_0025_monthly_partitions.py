"""Retention by the month: on PostgreSQL, behaviour events, contact records and audit records
become tables range-partitioned by month (of `occurred_at`, `sent_at`, `occurred_at`), their
rows copied in, with a DEFAULT partition and the months from the oldest row's to three ahead
(cdp.partitions creates later ones). Primary keys include the partition column: events
(profile_id, occurred_at, id), contacts (profile_id, sent_at, id), audit records
(seq, occurred_at). An event id can no longer be unique in `events` itself, so it moves to
`event_keys` (event id -> its time), which ingest inserts into first in the same
transaction. A contact's idempotency key keeps a plain index (record_contact serialises
each key; activation's keys are the outbox's unique ones). SQLite: nothing structural.

Both databases: `retention_runs`, which one runner of the deployment claims (cdp.retention.leader).

Revision ID: 0025_monthly_partitions
Revises: 0023_analytics_releases
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0025_monthly_partitions"
down_revision: str | None = "0024_trusted_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD_MONTHS = 3
# table, partition column, primary key, storage of each partition
TABLES = (
    ("events", "occurred_at", "profile_id, occurred_at, id", ""),
    ("contacts", "sent_at", "profile_id, sent_at, id", ""),
    ("audit_events", "occurred_at", "seq, occurred_at", " WITH (fillfactor = 80)"),
)
# Unique constraints a partitioned table cannot keep (they lack the partition column).
DROPPED_UNIQUE = {"events_event_id_key", "contacts_idempotency_key_key"}
CONTACT_KEY_INDEX = "CREATE INDEX ix_contacts_idempotency_key ON contacts (idempotency_key)"


def _month(at: datetime) -> datetime:
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _next(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def _partition(table: str, column: str, storage: str) -> None:
    """The old table's rows copied into a new one partitioned by month of `column`."""
    bind = op.get_bind()
    old = f"{table}_unpartitioned"
    # What the table has beside its primary key, to give the new one under the same names.
    indexes = bind.execute(
        sa.text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary"
        ),
        {"t": table},
    ).all()
    foreign = bind.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
        ),
        {"t": table},
    ).all()
    sequences = bind.scalars(
        sa.text(
            "SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
            "WHERE d.refobjid = CAST(:t AS regclass) AND s.relkind = 'S'"
        ),
        {"t": table},
    ).all()
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name in bind.scalars(
        sa.text(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = CAST(:t AS regclass)"
        ),
        {"t": old},
    ).all():
        op.execute(f"ALTER INDEX {name} RENAME TO {name[:50]}_unpart")
    for sequence in sequences:  # the id sequence outlives the old table
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        f"PARTITION BY RANGE ({column})"
    )
    pk = dict((t, k) for t, _, k, _ in TABLES)[table]
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({pk})")
    for name, definition in foreign:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in indexes:
        if name in DROPPED_UNIQUE:
            continue
        # Captured before the rename, so the definition names the new table.
        op.execute(definition)
    if table == "contacts":
        op.execute(CONTACT_KEY_INDEX)
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT{storage}")
    oldest = bind.scalar(sa.text(f"SELECT min({column}) FROM {old}"))
    now = datetime.now(UTC)
    month = _month(min(oldest, now) if oldest is not None else now)
    last = _month(now)
    for _ in range(AHEAD_MONTHS):
        last = _next(last)
    while month <= last:
        op.execute(
            f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next(month).isoformat()}'){storage}"
        )
        month = _next(month)
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    if table == "events":
        op.execute(
            "CREATE TABLE event_keys (event_id varchar(64) PRIMARY KEY, "
            "occurred_at timestamptz NOT NULL)"
        )
        op.execute(f"INSERT INTO event_keys SELECT event_id, occurred_at FROM {old}")
        op.execute("CREATE INDEX ix_event_keys_occurred_at ON event_keys (occurred_at)")
    op.execute(f"DROP TABLE {old}")
    for sequence in sequences:
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    op.execute(f"ANALYZE {table}")


def _unpartition(table: str, column: str) -> None:
    """Back to one table (the downgrade): rows copied, the unique keys restored."""
    old = f"{table}_partitioned"
    bind = op.get_bind()
    indexes = bind.execute(
        sa.text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary"
        ),
        {"t": table},
    ).all()
    foreign = bind.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' AND conparentid = 0"
        ),
        {"t": table},
    ).all()
    sequences = bind.scalars(
        sa.text(
            "SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
            "WHERE d.refobjid = CAST(:t AS regclass) AND s.relkind = 'S'"
        ),
        {"t": table},
    ).all()
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name, _ in indexes:
        op.execute(f"ALTER INDEX {name} RENAME TO {name[:50]}_part")
    op.execute(f"ALTER INDEX {table}_pkey RENAME TO {table}_pkey_part")
    for sequence in sequences:
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    key = "seq" if table == "audit_events" else "id"
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    for name, definition in foreign:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in indexes:
        if name != "ix_contacts_idempotency_key":
            op.execute(definition.replace(" ON ONLY ", " ON "))
    if table == "events":
        op.execute("ALTER TABLE events ADD CONSTRAINT events_event_id_key UNIQUE (event_id)")
        op.execute("DROP TABLE event_keys")
    if table == "contacts":
        op.execute(
            "ALTER TABLE contacts ADD CONSTRAINT contacts_idempotency_key_key "
            "UNIQUE (idempotency_key)"
        )
    if table == "audit_events":
        op.execute("ALTER TABLE audit_events SET (fillfactor = 80)")
    op.execute(f"DROP TABLE {old}")
    for sequence in sequences:
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    del column


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_runs_started_at", "retention_runs", ["started_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _, storage in TABLES:
        _partition(table, column, storage)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, _, _ in TABLES:
            _unpartition(table, column)
    op.drop_index("ix_retention_runs_started_at", table_name="retention_runs")
    op.drop_table("retention_runs")
