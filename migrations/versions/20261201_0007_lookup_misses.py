"""Lookup misses: staff lookups that found nobody, the shared counter of the miss cap.

Revision ID: 0007_lookup_misses
Revises: 0006_keystore
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lookup_misses"
down_revision: str | None = "0006_keystore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lookup_misses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_subject", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_kind", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lookup_misses_actor_at", "lookup_misses", ["actor_subject", "occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_lookup_misses_actor_at", table_name="lookup_misses")
    op.drop_table("lookup_misses")
