"""Trusted documents: a brand's registered GraphQL documents under their SHA-256 id, with the
operation each holds and the roles that may run it.

Revision ID: 0024_trusted_documents
Revises: 0023_analytics_releases
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_trusted_documents"
down_revision: str | None = "0023_analytics_releases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trusted_documents",
        sa.Column("id", sa.String(length=71), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.String(length=100), nullable=True),
        sa.Column("operation_type", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("trusted_documents")
