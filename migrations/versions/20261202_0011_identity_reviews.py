"""Identity reviews: merges the identity rules refused, kept for compliance to decide.

Revision ID: 0011_identity_reviews
Revises: 0010_wechat_push
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_identity_reviews"
down_revision: str | None = "0010_wechat_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _profile(name: str) -> sa.Column:
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "identity_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        _profile("profile_id"),
        _profile("other_profile_id"),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "OPEN", "MERGED", "KEPT_APART", name="reviewstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column, unique in (
        ("public_id", True),
        ("profile_id", False),
        ("other_profile_id", False),
        ("status", False),
    ):
        op.create_index(
            f"ix_identity_reviews_{column}", "identity_reviews", [column], unique=unique
        )


def downgrade() -> None:
    op.drop_table("identity_reviews")
