"""Staff identity: sessions, sign-in attempts, service accounts and their tokens, and the
shared access tokens of directory APIs.

Revision ID: 0008_staff
Revises: 0007_lookup_misses
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_staff"
down_revision: str | None = "0007_lookup_misses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("directory_id", sa.String(length=96), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        _when("created_at"),
        _when("last_seen_at"),
        _when("expires_at"),
        _when("checked_at"),
        sa.Column("provider_grant", sa.Text(), nullable=True),
        _when("ended_at", nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_staff_sessions_person", "staff_sessions", ["provider", "directory_id"], unique=False
    )
    op.create_table(
        "staff_sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=True),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        _when("created_at"),
        _when("expires_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_index(
        "ix_staff_sign_in_attempts_expires_at",
        "staff_sign_in_attempts",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "service_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        _when("created_at"),
        _when("rotated_at", nullable=True),
        _when("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        sa.ForeignKeyConstraint(["account_id"], ["service_accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_service_tokens_account_id", "service_tokens", ["account_id"], unique=False)
    op.create_table(
        "staff_provider_tokens",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("sealed_token", sa.Text(), nullable=False),
        _when("fetched_at"),
        _when("expires_at"),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("staff_provider_tokens")
    op.drop_index("ix_service_tokens_account_id", table_name="service_tokens")
    op.drop_table("service_tokens")
    op.drop_table("service_accounts")
    op.drop_index("ix_staff_sign_in_attempts_expires_at", table_name="staff_sign_in_attempts")
    op.drop_table("staff_sign_in_attempts")
    op.drop_index("ix_staff_sessions_person", table_name="staff_sessions")
    op.drop_table("staff_sessions")
