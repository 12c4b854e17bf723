"""Website QR sign-in: the states callbacks have spent, kept until they would have expired.

Revision ID: 0012_wechat_spent_states
Revises: 0011_identity_reviews
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_wechat_spent_states"
down_revision: str | None = "0011_identity_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_spent_states",
        sa.Column("state_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_index("ix_wechat_spent_states_expires_at", "wechat_spent_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_wechat_spent_states_expires_at", table_name="wechat_spent_states")
    op.drop_table("wechat_spent_states")
