"""The data keys leave the database for the key store (CDP_KEYSTORE_URL), so that a backup
of the database holds no key. `cdp migrate` moves any rows to the key store first; this
revision refuses to drop a table that still holds keys.

Revision ID: 0006_keystore
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_keystore"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    left = op.get_bind().execute(sa.text("SELECT count(*) FROM data_keys")).scalar()
    if left:
        raise RuntimeError(
            f"data_keys still holds {left} keys: run `cdp migrate`, which moves them to the "
            "key store before this revision drops the table"
        )
    with op.batch_alter_table("data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_keys_profile_id"))
        batch_op.drop_index(batch_op.f("ix_data_keys_kek_version"))
    op.drop_table("data_keys")


def downgrade() -> None:
    # An empty table: the keys stay in the key store.
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
