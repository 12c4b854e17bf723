"""SMS sign-in codes: by the phone's blind index, the code as an HMAC, expiry, attempts.

Revision ID: 0016_sms_codes
Revises: 0015_wechat_app_tokens
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_sms_codes"
down_revision: str | None = "0015_wechat_app_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_mac", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_codes_phone_created", "sms_codes", ["phone_bidx", "created_at"])
    op.create_index("ix_sms_codes_expires_at", "sms_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_codes_expires_at", table_name="sms_codes")
    op.drop_index("ix_sms_codes_phone_created", table_name="sms_codes")
    op.drop_table("sms_codes")
