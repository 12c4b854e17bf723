"""A profile's follow state per official account (`Profile.wechatFollows`), from WeChat's
message push (cdp/wechat/push_events.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.graphql.context import Info, by_key
from cdp.graphql.objects import object_type
from cdp.subscriptions import service
from cdp.subscriptions.models import WechatFollow


@object_type(
    "WechatFollow",
    description="Whether the person follows one of the brand's official accounts (关注).",
)
class WechatFollowType:
    app_id: str = strawberry.field(description="The official account's AppID.")
    following: bool = strawberry.field(description="Following now.")
    since: datetime = strawberry.field(
        description="When they followed or unfollowed, as WeChat told (UTC)."
    )
    scene: str | None = strawberry.field(
        description="The QR code's scene (qrscene_ parameter) of the follow that brought "
        "them; null for a follow from search, an article or a card."
    )

    @classmethod
    def of(cls, row: WechatFollow) -> WechatFollowType:
        return cls(app_id=row.app_id, following=row.following, since=row.since, scene=row.scene)


async def _follows(session: AsyncSession, keys: list[int]) -> Mapping[int, list[WechatFollow]]:
    return await service.follows_of(session=session, profile_ids=keys)


FOLLOWS = by_key("wechat_follows", _follows)


async def follows_of(info: Info, profile_id: int) -> list[WechatFollowType]:
    rows = await info.context.loader(FOLLOWS).load(profile_id)
    return [WechatFollowType.of(row) for row in rows]
