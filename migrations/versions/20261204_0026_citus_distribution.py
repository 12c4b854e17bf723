"""On a Citus cluster: every person's tables distributed by profile id and co-located with
profiles, the small shared ones made reference tables, the rest left on the coordinator
(cdp.distribution holds the plan). Nothing happens on plain PostgreSQL or SQLite.

Revision ID: 0026_citus_distribution
Revises: 0023_analytics_releases
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

from cdp.distribution import distribute

revision: str = "0026_citus_distribution"
down_revision: str | None = "0025_monthly_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    distribute(op.get_bind())


def downgrade() -> None:
    # Undistributing (undistribute_table) would pull every shard back to the coordinator:
    # an operator's decision, not a migration's.
    pass
