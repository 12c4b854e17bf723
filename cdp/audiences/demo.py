"""The audiences of the articles brands work from, as the demo defines them (and the tests
compute by hand): a health-reading core, sleepers to win back, people active in several
apps, and the top tier in their birthday month."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audiences.service import define_audience
from cdp.auth import Principal
from cdp.config import Settings

CORE_HEALTH = "核心养生用户"
SLEEPING = "沉睡用户"
MULTI_APP = "多端活跃"
DIAMOND_BIRTHDAY = "钻石会员生日月"
DEMO_AUDIENCES: dict[str, tuple[str, dict[str, Any]]] = {
    CORE_HEALTH: (
        "Read three or more health articles: the core of the wellness content.",
        {"event": {"type": "article_read", "properties": {"category": "health"}, "atLeast": 3}},
    ),
    SLEEPING: (
        "No visit for 30 days: the win-back list.",
        {"lastSeen": {"atLeastDaysAgo": 30}},
    ),
    MULTI_APP: (
        "Active in two or more of the brand's apps in the last 30 days: double points.",
        {"apps": {"atLeast": 2, "withinDays": 30}},
    ),
    DIAMOND_BIRTHDAY: (
        "Top-tier members in their birthday month: the birthday coupon.",
        {"all": [{"tier": {"in": ["SUPREME"]}}, {"birthday": {"thisMonth": True}}]},
    ),
}


async def define_demo_audiences(
    *, session: AsyncSession, actor: Principal, settings: Settings
) -> None:
    for name, (description, definition) in DEMO_AUDIENCES.items():
        await define_audience(
            session=session,
            actor=actor,
            settings=settings,
            name=name,
            definition=definition,
            description=description,
        )
