"""Analytics: the released per-period results (immutable once written), and the coarse
companions of the sealed birthday and address (five-year birth cohort, province).

Revision ID: 0023_analytics_releases
Revises: 0022_outbox
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_analytics_releases"
down_revision: str | None = "0022_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_releases",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=300), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("measure", "variant", "period", "starts", name="uq_analytics_releases"),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_cohort", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("province", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("province")
        batch_op.drop_column("birth_cohort")
    op.drop_table("analytics_releases")
