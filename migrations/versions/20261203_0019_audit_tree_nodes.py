"""The audit tree's stored perfect subtrees (of 256 leaves and more), written by the sealer,
so that inclusion and consistency proofs read O(log n) rows instead of every record. Trees
sealed before are proved from their records, as they were.

Revision ID: 0019_audit_tree_nodes
Revises: 0018_audiences
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_audit_tree_nodes"
down_revision: str | None = "0018_audiences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "position"),
    )


def downgrade() -> None:
    op.drop_table("audit_tree_nodes")
