"""Follow state per official-account identity, and the subscribe-message ledger per
(identity, template). Both are keyed by the identity (app and OpenID blind index), so a
merge only moves them to the survivor: no two rows of one key can meet."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, profile_fk, timestamp_field

SCENE_MAX = 64
TEMPLATE_MAX = 128


class WechatFollow(SQLModel, table=True):
    """Whether the person follows the official account, since when, and the scene (the
    qrscene_ parameter of the QR code) of the follow that brought them."""

    __tablename__ = "wechat_follows"
    __table_args__ = (sa.UniqueConstraint("app_id", "open_id_bidx", name="uq_wechat_follows_key"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    app_id: str = Field(max_length=64, nullable=False)
    open_id_bidx: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    following: bool = Field(nullable=False)
    since: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    scene: str | None = Field(default=None, max_length=SCENE_MAX)
    updated_at: datetime = timestamp_field()


class SubscribeGrant(SQLModel, table=True):
    """One-time subscribe-message acceptances not yet spent for one template, and the
    person's last choice for it (accept, reject, ban)."""

    __tablename__ = "wechat_subscribe_grants"
    __table_args__ = (
        sa.UniqueConstraint(
            "app_id", "open_id_bidx", "template_id", name="uq_wechat_subscribe_grants_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    app_id: str = Field(max_length=64, nullable=False)
    open_id_bidx: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    template_id: str = Field(max_length=TEMPLATE_MAX, nullable=False)
    available: int = Field(default=0, nullable=False)
    choice: str = Field(max_length=16, nullable=False)
    chosen_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    updated_at: datetime = timestamp_field()
