"""The directory of lookup keys, `profile_keys` (key hash, kind -> profile id), filled from the
profiles and identities there are; on a Citus cluster distributed by the key's hash
(cdp.distribution), so that a lookup by public id, UnionID, phone or OpenID reads one shard
and then the person's. On SQLite and plain PostgreSQL it is a table like the others.

Revision ID: 0027_profile_keys
Revises: 0026_citus_distribution
Create Date: 2026-12-04
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from cdp.distribution import distribute
from cdp.profiles.directory import (
    FILL_SQL,
    IDEMPOTENT,
    Key,
    idempotency_key,
    identity_keys,
    profile_keys,
)

revision: str = "0027_profile_keys"
down_revision: str | None = "0026_citus_distribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUE = sa.text("kind NOT IN ('phone', 'open_id')")
BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "profile_keys",
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "kind", "profile_id"),
    )
    op.create_index("ix_profile_keys_profile_id", "profile_keys", ["profile_id"])
    op.create_index(
        "uq_profile_keys_key",
        "profile_keys",
        ["key_hash", "kind"],
        unique=True,
        sqlite_where=UNIQUE,
        postgresql_where=UNIQUE,
    )
    connection = op.get_bind()
    distribute(connection)  # on Citus: distributed by key_hash before it is filled
    if connection.dialect.name == "postgresql":
        for statement in FILL_SQL:
            connection.exec_driver_sql(statement)
    else:
        _backfill_in_python(connection)


def _backfill_in_python(connection: sa.Connection) -> None:
    keys = sa.table(
        "profile_keys", sa.column("key_hash"), sa.column("kind"), sa.column("profile_id")
    )
    sources: list[tuple[str, Callable[[dict[str, Any]], set[Key]]]] = [
        (
            "SELECT id AS profile_id, public_id, union_id_bidx, phone_bidx, phone_verified "
            "FROM profiles",
            profile_keys,
        ),
        ("SELECT profile_id, app_id, open_id_bidx FROM identities", identity_keys),
    ]
    for table, column in IDEMPOTENT.items():
        sources.append(
            (
                f"SELECT profile_id, {column} FROM {table}",
                lambda row, t=table, c=column: {idempotency_key(t, row[c])},
            )
        )
    for query, keys_of in sources:
        result = connection.exec_driver_sql(query)
        seen: set[tuple[bytes, str, int]] = set()
        while rows := result.mappings().fetchmany(BATCH):
            batch = []
            for row in rows:
                owner = row["profile_id"]
                found = keys_of(dict(row))
                for key_hash, kind in found:
                    if (key_hash, kind, owner) not in seen:
                        seen.add((key_hash, kind, owner))
                        batch.append({"key_hash": key_hash, "kind": kind, "profile_id": owner})
            if batch:
                connection.execute(sa.insert(keys), batch)


def downgrade() -> None:
    op.drop_table("profile_keys")
