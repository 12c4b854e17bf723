"""Reading back what processed pushes left: behaviour events, follow state, the ledger."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from cdp.db import Database
from cdp.events.models import Event
from cdp.keys.vault import Vault
from cdp.profiles.models import Identity
from cdp.subscriptions.models import SubscribeGrant, WechatFollow
from cdp.wechat.push_inbox import InboxMessage


async def profile_of(database: Database, vault: Vault, app_id: str, open_id: str) -> int | None:
    """The profile the identity (app, OpenID) belongs to, if linked."""
    async with database.transaction() as session:
        found = await session.scalar(
            sa.select(col(Identity.profile_id)).where(
                col(Identity.app_id) == app_id,
                col(Identity.open_id_bidx) == vault.blind_index("open_id", open_id),
            )
        )
    return None if found is None else int(found)


async def events_of(database: Database, profile_id: int) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = await session.scalars(
            sa.select(Event).where(col(Event.profile_id) == profile_id).order_by(col(Event.id))
        )
        return [
            {
                "type": e.type,
                "channel": e.channel.value,
                "app_id": e.app_id,
                "from": e.entry_from,
                "params": e.entry_params,
                "properties": e.properties,
            }
            for e in rows
        ]


async def follows(database: Database) -> list[WechatFollow]:
    async with database.transaction() as session:
        return list(await session.scalars(sa.select(WechatFollow).order_by(col(WechatFollow.id))))


async def grants(database: Database) -> list[SubscribeGrant]:
    async with database.transaction() as session:
        rows = await session.scalars(
            sa.select(SubscribeGrant).order_by(col(SubscribeGrant.template_id))
        )
        return list(rows)


async def inbox(database: Database) -> list[InboxMessage]:
    async with database.transaction() as session:
        return list(await session.scalars(sa.select(InboxMessage).order_by(col(InboxMessage.id))))
