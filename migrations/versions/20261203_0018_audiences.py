"""Audiences: their definitions, the history of their memberships, the queue of people to
re-evaluate, and the birthday's month kept beside the sealed birthday.

Revision ID: 0018_audiences
Revises: 0017_audit_lock_free
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_audiences"
down_revision: str | None = "0017_audit_lock_free"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("refreshed_version", sa.Integer(), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "audience_membership_changes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("audience_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("why", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["audience_id"], ["audiences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_audience_changes_audience_id",
        "audience_membership_changes",
        ["audience_id", "id"],
    )
    op.create_index(
        "ix_audience_changes_run",
        "audience_membership_changes",
        ["run_id", "audience_id", "change"],
    )
    op.create_index(
        "ix_audience_membership_changes_profile_id",
        "audience_membership_changes",
        ["profile_id"],
    )
    op.create_table(
        "audience_queue",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audience_queue_profile_id", "audience_queue", ["profile_id"])
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_month", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("birth_month")
    op.drop_index("ix_audience_queue_profile_id", table_name="audience_queue")
    op.drop_table("audience_queue")
    op.drop_index(
        "ix_audience_membership_changes_profile_id", table_name="audience_membership_changes"
    )
    op.drop_index("ix_audience_changes_run", table_name="audience_membership_changes")
    op.drop_index("ix_audience_changes_audience_id", table_name="audience_membership_changes")
    op.drop_table("audience_membership_changes")
    op.drop_table("audiences")
