"""Audit records written without a lock: PostgreSQL numbers them from a sequence, the sealer
links them (`prev_hash`, `hash`) when it seals them (an update that touches no index), heads
name the last seq they hold, and a signed note keeps the head the chain had when the tree took
over.

Revision ID: 0017_audit_lock_free
Revises: 0016_sms_codes
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_audit_lock_free"
down_revision: str | None = "0016_sms_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32), nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        # The next number follows the records already there.
        op.execute("CREATE SEQUENCE audit_seq AS bigint")
        op.execute(
            "SELECT setval('audit_seq', "
            "COALESCE((SELECT max(seq) FROM audit_events), 0) + 1, false)"
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        # The sealer's update must touch no index (a HOT update): it finds its place by seq.
        batch_op.drop_constraint("uq_audit_events_leaf_index", type_="unique")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events SET (fillfactor = 80)")
    with op.batch_alter_table("audit_tree_heads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("last_seq", sa.BigInteger(), nullable=True))
    op.create_table(
        "audit_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", name="uq_audit_notes_kind"),
    )


def downgrade() -> None:
    op.drop_table("audit_notes")
    with op.batch_alter_table("audit_tree_heads", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
        batch_op.drop_column("frontier")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE audit_seq")
    # Records the sealer has not linked yet cannot keep a chain without their links.
    op.execute("DELETE FROM audit_events WHERE hash IS NULL")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.create_unique_constraint("uq_audit_events_leaf_index", ["leaf_index"])
