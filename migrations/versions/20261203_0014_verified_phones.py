"""Verified phones: whether a profile's phone is verified and where it came from; one profile
at most holds a phone verified.

Revision ID: 0014_verified_phones
Revises: 0013_audit_tree
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_verified_phones"
down_revision: str | None = "0013_audit_tree"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Phones on file so far were typed in by their customers: unverified, self-entered.
    op.add_column(
        "profiles",
        sa.Column("phone_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "profiles",
        sa.Column(
            "phone_source",
            sa.Enum(
                "SELF_ENTERED", "WECHAT", "SMS", name="phonesource", native_enum=False, length=32
            ),
            nullable=True,
        ),
    )
    op.execute("UPDATE profiles SET phone_source = 'SELF_ENTERED' WHERE phone_bidx IS NOT NULL")
    op.create_index(
        "uq_profiles_verified_phone",
        "profiles",
        ["phone_bidx"],
        unique=True,
        sqlite_where=sa.text("phone_verified"),
        postgresql_where=sa.text("phone_verified"),
    )


def downgrade() -> None:
    op.drop_index("uq_profiles_verified_phone", table_name="profiles")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("phone_source")
        batch.drop_column("phone_verified")
