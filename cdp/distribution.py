"""Where every table lives on a Citus cluster, as data, and the steps that put it there.

Everything about one person is distributed by the person's profile id and co-located with
`profiles` (distributed by its `id`), so that one person's reads and writes touch one shard;
small shared tables are reference tables (a copy on every node); queues, the audit chain and
what is keyed by something other than a person stay on the coordinator (local tables).
On plain PostgreSQL and SQLite nothing here runs: `distribute` returns at once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

# The table every person's rows are co-located with, and its distribution column.
ANCHOR = "profiles"
ANCHOR_COLUMN = "id"

# Distributed by the person, co-located with `profiles`: table -> its distribution column.
BY_PERSON: dict[str, str] = {
    "profiles": "id",
    "identities": "profile_id",
    "identity_reviews": "profile_id",
    "consents": "profile_id",
    "consent_history": "profile_id",
    "contacts": "profile_id",
    "events": "profile_id",
    "coupons": "profile_id",
    "points_ledger": "profile_id",
    "points_lots": "profile_id",
    "profile_tags": "profile_id",
    "audience_membership_changes": "profile_id",
    "wechat_follows": "profile_id",
    "wechat_subscribe_grants": "profile_id",
}

# Distributed by something other than the person, not co-located with `profiles`: the
# directory of lookup keys (cdp.profiles.directory), by the key's hash, so that a lookup by key
# reads one shard. A reference table would put every key on every node and make every link a
# write to all of them: it holds several rows per member, the largest table but events.
BY_KEY: dict[str, str] = {"profile_keys": "key_hash"}

# Small and shared: replicated to every node, joined with any shard locally. Suppressions
# are read on every ingest path by (kind, blind index): a lookup on the local copy.
REFERENCE: tuple[str, ...] = ("audiences", "campaigns", "privacy_notices", "suppressions")

# On the coordinator only, with why.
LOCAL: dict[str, str] = {
    "alembic_version": "the migration state",
    "audit_events": "one chain for the deployment, sealed in order by one sealer",
    "audit_notes": "the audit chain's notes",
    "audit_tree_heads": "the audit chain's signed heads",
    "audit_tree_nodes": "the audit chain's Merkle nodes",
    "outbox": "a queue claimed with FOR UPDATE SKIP LOCKED across all its rows",
    "outbox_cursors": "the outbox relays' positions",
    "audience_queue": "a queue claimed with FOR UPDATE SKIP LOCKED",
    "profile_merges": "aliases of merged-away public ids, found by the old id",
    "orders": "an erased buyer's orders stay, unlinked (a NULL distribution value)",
    "order_items": "with their orders",
    "erasure_requests": "compliance's work list",
    "data_export_links": "one-use links found by their token's hash",
    "lookup_misses": "rate limits of lookups by staff",
    "rate_budgets": "rate budgets shared by every instance",
    "event_keys": "the event ids ingest has seen (with their time), the dedup of every person",
    "retention_runs": "the deployment's one daily retention run, claimed under a lock",
    "trusted_documents": "registered GraphQL documents, read by their id on the coordinator",
    "analytics_releases": "released aggregates, written once per period",
    "sms_codes": "sign-in codes found by the phone's blind index",
    "staff_sessions": "staff sessions",
    "staff_sign_in_attempts": "staff sign-in state",
    "staff_provider_tokens": "identity providers' tokens",
    "service_accounts": "service accounts",
    "service_tokens": "service accounts' tokens",
    "wechat_app_tokens": "the apps' access tokens",
    "wechat_push_inbox": "WeChat pushes, deduplicated by their key",
    "wechat_spent_states": "spent sign-in states",
}


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]
    on_delete: str  # the constraint's ON DELETE clause ("CASCADE", "SET NULL", ...)


def on_citus(connection: sa.Connection) -> bool:
    """Whether the Citus extension is installed in this (PostgreSQL) database."""
    if connection.dialect.name != "postgresql":
        return False
    found = connection.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
    return found.first() is not None


def placement(table: str) -> str:
    """'distributed', 'reference' or 'local': where the plan puts `table`."""
    if table in BY_PERSON or table in BY_KEY:
        return "distributed"
    return "reference" if table in REFERENCE else "local"


def _foreign_keys(connection: sa.Connection) -> list[ForeignKey]:
    rows = connection.exec_driver_sql(
        """
        SELECT c.conrelid::regclass::text, c.conname, c.confrelid::regclass::text,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                     ORDER BY k.i)::text[],
               ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                     ORDER BY k.i)::text[],
               c.confdeltype
        FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace
        WHERE c.contype = 'f' AND s.nspname = current_schema()
          AND c.conparentid = 0  -- a partition's copy goes with its table's key
        ORDER BY 1, 2
        """
    )
    actions = {"c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT", "r": "RESTRICT"}
    return [
        ForeignKey(t, n, tuple(cols), target, tuple(tcols), actions.get(d, "NO ACTION"))
        for t, n, target, cols, tcols, d in rows
    ]


def _keys_without(connection: sa.Connection, table: str, column: str) -> list[tuple[str, str, str]]:
    """(name, kind, columns) of the primary key, unique constraints and unique indexes of
    `table` that do not include `column` (Citus enforces uniqueness only within one shard)."""
    rows = connection.execute(
        sa.text(
            """
        SELECT i.indexrelid::regclass::text, coalesce(c.contype::text, 'i'),
               array_to_string(ARRAY(SELECT quote_ident(a.attname)
                     FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                     ORDER BY k.o), ', ')
        FROM pg_index i
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
        WHERE i.indrelid = CAST(:table AS regclass) AND i.indisunique
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
                          AND a.attnum = ANY(i.indkey) AND a.attname = :column)
        ORDER BY 1
        """
        ),
        {"table": table, "column": column},
    )
    return [(name, kind, columns) for name, kind, columns in rows]


def _rekey(connection: sa.Connection, table: str, column: str) -> None:
    """Give every key of `table` its distribution column: the primary key and unique
    constraints become (column, ...) and a plain index keeps the lookup by the old columns;
    a unique index becomes a plain one (its uniqueness is the application's: see
    docs/SCALING.md)."""
    for name, kind, columns in _keys_without(connection, table, column):
        definition = connection.execute(
            sa.text("SELECT pg_get_indexdef(CAST(:name AS regclass))"), {"name": name}
        ).scalar_one()
        plain = definition.replace("CREATE UNIQUE INDEX", "CREATE INDEX", 1)
        if kind == "u" and table == ANCHOR:
            # Unique per profile is unique by its primary key: a plain index for lookups.
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            connection.exec_driver_sql(plain)
        elif kind == "p":
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            connection.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY ({column}, {columns})"
            )
        elif kind == "u":
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            connection.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({column}, {columns})"
            )
            connection.exec_driver_sql(plain.replace(f"INDEX {name} ", f"INDEX {name}_l ", 1))
        else:
            connection.exec_driver_sql(f"DROP INDEX {name}")
            connection.exec_driver_sql(plain)


def _restored(key: ForeignKey) -> str | None:
    """The foreign key as Citus can keep it, or None where it cannot (then the application
    removes what the key would have: merges and erasure name every table)."""
    source, target = placement(key.table), placement(key.target)
    if key.table in BY_KEY or key.target in BY_KEY:
        return None  # another distribution: no key can join it to a person's shard
    if source == "distributed" and target == "distributed":
        column, target_column = BY_PERSON[key.table], BY_PERSON[key.target]
        if key.target == ANCHOR and key.columns == (column,) and key.on_delete != "SET NULL":
            return f"FOREIGN KEY ({column}) REFERENCES {ANCHOR} ({ANCHOR_COLUMN})"
        if key.target != ANCHOR and column not in key.columns:
            columns = ", ".join((column, *key.columns))
            targets = ", ".join((target_column, *key.target_columns))
            return f"FOREIGN KEY ({columns}) REFERENCES {key.target} ({targets})"
        return None
    if target == "reference" and source in ("distributed", "reference"):
        columns, targets = ", ".join(key.columns), ", ".join(key.target_columns)
        return f"FOREIGN KEY ({columns}) REFERENCES {key.target} ({targets})"
    if source == target == "local":
        return None  # untouched: never dropped
    return None


def distribute(connection: sa.Connection) -> list[str]:
    """Apply the plan on Citus (nothing elsewhere); idempotent: a table already placed is
    left alone. Returns the foreign keys dropped for good ("table.name")."""
    if not on_citus(connection):
        return []
    placed = set(
        connection.exec_driver_sql("SELECT logicalrelid::regclass::text FROM pg_dist_partition")
        .scalars()
        .all()
    )
    existing = set(sa.inspect(connection).get_table_names())
    # One connection per node for the DDL of this transaction (parallel DDL after touching a
    # reference table in the same transaction is refused).
    connection.exec_driver_sql("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    keys = [
        key
        for key in _foreign_keys(connection)
        if "local" in (placement(key.table), placement(key.target))
        or key.table not in placed
        or key.target not in placed
    ]
    keys = [k for k in keys if not (placement(k.table) == placement(k.target) == "local")]
    for key in keys:
        connection.exec_driver_sql(f"ALTER TABLE {key.table} DROP CONSTRAINT {key.name}")
    for table in REFERENCE:
        if table in existing and table not in placed:
            connection.exec_driver_sql(f"SELECT create_reference_table('{table}')")
    for table, column in BY_PERSON.items():
        if table in existing and table not in placed:
            _rekey(connection, table, column)
            colocate = "none" if table == ANCHOR else ANCHOR
            connection.exec_driver_sql(
                f"SELECT create_distributed_table('{table}', '{column}', "
                f"colocate_with => '{colocate}')"
            )
    for table, column in BY_KEY.items():
        if table in existing and table not in placed:
            connection.exec_driver_sql(
                f"SELECT create_distributed_table('{table}', '{column}', colocate_with => 'none')"
            )
    dropped = []
    for key in keys:
        restored = _restored(key)
        if restored is None:
            dropped.append(f"{key.table}.{key.name}")
            continue
        on_delete = "" if key.on_delete in ("NO ACTION", "SET NULL") else key.on_delete
        connection.exec_driver_sql(
            f"ALTER TABLE {key.table} ADD CONSTRAINT {key.name} {restored}"
            + (f" ON DELETE {on_delete}" if on_delete else "")
        )
    return dropped


_ON_CITUS: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()


async def moves_by_copy(session: AsyncSession, table: str) -> bool:
    """Whether moving `table`'s rows to another person must copy and delete them: on Citus,
    for a distributed table (a row's distribution column cannot be updated in place)."""
    return table in BY_PERSON and await citus_in(session)


async def sequential_on_citus(session: AsyncSession) -> None:
    """On Citus, the rest of this transaction reaches the shards over one connection per
    node: Citus refuses to write a reference table (an audience) after a parallel scan of
    the shards in the same transaction. Nothing elsewhere."""
    if await citus_in(session):
        await session.execute(sa.text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))


async def citus_in(session: AsyncSession) -> bool:
    """Whether the session's database has the Citus extension (asked once per engine)."""
    engine = session.get_bind()
    if not isinstance(engine, sa.Engine):
        engine = engine.engine
    if engine not in _ON_CITUS:
        if engine.dialect.name != "postgresql":
            _ON_CITUS[engine] = False
        else:
            found = await session.scalar(
                sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
            )
            _ON_CITUS[engine] = bool(found)
    return _ON_CITUS[engine]
