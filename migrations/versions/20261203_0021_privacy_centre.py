"""The customer's privacy centre: account cancellations on erasure requests (their origin,
cooling-off, holds and withdrawal), one-use links to a person's export, and the registry of
privacy notices (with the version the member centre shows today).

Revision ID: 0021_privacy_centre
Revises: 0020_rate_budgets
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0021_privacy_centre"
down_revision: str | None = "0020_rate_budgets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_NOTICE = """《会员隐私政策》（2026-01 版）

我们收集你的微信 UnionID 与 OpenID、手机号、姓名、生日与收货地址，用于识别会员身份、积分与优惠券、\
订单配送与会员服务。消息推送、个性化推荐与匿名统计以你在“消息与隐私设置”中的选择为准，你可随时更改。

你可以在会员中心查看、更正和下载你的个人信息，也可以注销账号。注销后有冷静期，期间可撤回；\
冷静期结束后，你的个人信息将被删除或匿名化处理，法律法规要求保存的除外。"""


def upgrade() -> None:
    with op.batch_alter_table("erasure_requests") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(length=32), nullable=False, server_default="STAFF")
        )
        batch.add_column(sa.Column("runs_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("held_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "data_export_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_data_export_links_profile_id", "data_export_links", ["profile_id"])
    notices = op.create_table(
        "privacy_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("changes", sa.String(length=2000), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )
    op.bulk_insert(
        notices,
        [
            {
                "version": "2026-01",
                "title": "会员隐私政策",
                "text": FIRST_NOTICE,
                "changes": "首次发布。",
                "material": True,
                "effective_at": datetime(2026, 1, 1, tzinfo=UTC),
                "published_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("privacy_notices")
    op.drop_index("ix_data_export_links_profile_id", table_name="data_export_links")
    op.drop_table("data_export_links")
    with op.batch_alter_table("erasure_requests") as batch:
        for column in ("withdrawn_at", "held_at", "held_by", "hold_reason", "runs_at", "origin"):
            batch.drop_column(column)
