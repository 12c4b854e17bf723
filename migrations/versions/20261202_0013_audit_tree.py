"""The audit log's Merkle tree: each record's leaf index (set by the sealer) and the signed
tree heads. Existing chained records become the first leaves when the sealer first runs.

Revision ID: 0013_audit_tree
Revises: 0012_wechat_spent_states
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_audit_tree"
down_revision: str | None = "0012_wechat_spent_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf_index", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint("uq_audit_events_leaf_index", ["leaf_index"])
    op.create_table(
        "audit_tree_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_tree_heads_size", "audit_tree_heads", ["size"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_tree_heads_size", table_name="audit_tree_heads")
    op.drop_table("audit_tree_heads")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_events_leaf_index", type_="unique")
        batch_op.drop_column("leaf_index")
