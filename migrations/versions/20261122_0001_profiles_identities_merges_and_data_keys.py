"""Profiles, their app identities, merge records, and per-profile data keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_keys_kek_version"), ["kek_version"], unique=False)
        batch_op.create_index(batch_op.f("ix_data_keys_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("union_id_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("union_id_ct", sa.LargeBinary(), nullable=True),
        sa.Column(
            "tier",
            sa.Enum("STANDARD", "VIP", "SUPREME", name="tier", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("phone_ct", sa.LargeBinary(), nullable=True),
        sa.Column("name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("address_ct", sa.LargeBinary(), nullable=True),
        sa.Column("birthday_ct", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("union_id_bidx"),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profiles_phone_bidx"), ["phone_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_profiles_public_id"), ["public_id"], unique=True)

    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "MINI_PROGRAM",
                "OFFICIAL_ACCOUNT",
                "CHANNELS",
                "WEB",
                "SMS",
                name="channel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("open_id_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("open_id_ct", sa.LargeBinary(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "open_id_bidx", name="uq_identities_app_open"),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identities_open_id_bidx"), ["open_id_bidx"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_identities_profile_id"), ["profile_id"], unique=False)

    op.create_table(
        "profile_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("loser_id", sa.Integer(), nullable=False),
        sa.Column("loser_public_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["survivor_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("profile_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_merges_loser_public_id"), ["loser_public_id"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_profile_merges_survivor_id"), ["survivor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("profile_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_profile_merges_loser_public_id"))

    op.drop_table("profile_merges")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_profile_id"))
        batch_op.drop_index(batch_op.f("ix_identities_open_id_bidx"))

    op.drop_table("identities")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profiles_public_id"))
        batch_op.drop_index(batch_op.f("ix_profiles_phone_bidx"))

    op.drop_table("profiles")
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_keys_profile_id"))
        batch_op.drop_index(batch_op.f("ix_data_keys_kek_version"))

    op.drop_table("data_keys")
