"""WeChat message push: the inbox of accepted pushes, follow state per official-account
identity, and the subscribe-message ledger.

Revision ID: 0010_wechat_push
Revises: 0008_staff
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_wechat_push"
down_revision: str | None = "0008_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _profile() -> sa.Column:
    return sa.Column(
        "profile_id",
        sa.Integer(),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "wechat_push_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("message_ct", sa.LargeBinary(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "PENDING",
                "DONE",
                "DROPPED",
                "FAILED",
                name="inboxstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        _when("received_at"),
        _when("processed_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_wechat_push_inbox_state_id", "wechat_push_inbox", ["state", "id"])
    op.create_table(
        "wechat_follows",
        sa.Column("id", sa.Integer(), nullable=False),
        _profile(),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("open_id_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("following", sa.Boolean(), nullable=False),
        _when("since"),
        sa.Column("scene", sa.String(length=64), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "open_id_bidx", name="uq_wechat_follows_key"),
    )
    op.create_index("ix_wechat_follows_profile_id", "wechat_follows", ["profile_id"])
    op.create_table(
        "wechat_subscribe_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        _profile(),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("open_id_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        _when("chosen_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "app_id", "open_id_bidx", "template_id", name="uq_wechat_subscribe_grants_key"
        ),
    )
    op.create_index(
        "ix_wechat_subscribe_grants_profile_id", "wechat_subscribe_grants", ["profile_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_wechat_subscribe_grants_profile_id", table_name="wechat_subscribe_grants")
    op.drop_table("wechat_subscribe_grants")
    op.drop_index("ix_wechat_follows_profile_id", table_name="wechat_follows")
    op.drop_table("wechat_follows")
    op.drop_index("ix_wechat_push_inbox_state_id", table_name="wechat_push_inbox")
    op.drop_table("wechat_push_inbox")
