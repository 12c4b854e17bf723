"""A small town of people for the audience tests, made through the real services and then
dated with plain UPDATEs: who joined when, read what, bought what, was last seen when."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audiences.models import AUDIENCES, CHANGES
from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent.models import ConsentPurpose
from cdp.consent.service import Choice, update_consents
from cdp.db import Database, utcnow
from cdp.events.service import EventInput, EventStatus, record_events
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.profiles.models import Identity, Profile, Tier
from cdp.profiles.service import update_personal_fields
from cdp.reevaluation import QUEUE
from cdp.tags.models import ProfileTag
from tests.conftest import audited
from tests.support.people import CHANNELS_APP, MINI, OFFICIAL, WEB_APP

APPS = {
    Channel.MINI_PROGRAM: MINI,
    Channel.OFFICIAL_ACCOUNT: OFFICIAL,
    Channel.CHANNELS: CHANNELS_APP,
    Channel.WEB: WEB_APP,
}
PROFILES = Profile.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
TAGS = ProfileTag.__table__  # type: ignore[attr-defined]
TOWNSFOLK = Principal(subject="audience-town", role=Role.SERVICE)
_serial = itertools.count()


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def month_in_shanghai(offset: int = 0) -> int:
    """This month in the brand's time zone (offset months on, wrapping)."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")).month - 1 + offset) % 12 + 1


@dataclass
class Town:
    session: AsyncSession
    vault: Vault
    settings: Settings
    people: dict[str, Profile] = field(default_factory=dict)

    async def joins(self, name: str, *, days: float = 100, apps: int = 1) -> Profile:
        """`name` first seen `days` ago, in the first `apps` apps (last seen then too)."""
        profile = None
        for channel in list(APPS)[:apps]:
            outcome = await link_identity(
                session=self.session,
                vault=self.vault,
                settings=self.settings,
                channel=channel,
                app_id=APPS[channel],
                open_id=f"o{channel.value[:4]}_{name}",
                union_id=f"u_{name}",
            )
            profile = outcome.profile
        assert profile is not None
        self.people[name] = profile
        when = days_ago(days)
        await self.session.execute(
            sa.update(PROFILES).where(PROFILES.c.id == profile.id).values(created_at=when)
        )
        await self.session.execute(
            sa.update(IDENTITIES)
            .where(IDENTITIES.c.profile_id == profile.id)
            .values(linked_at=when, last_seen_at=when)
        )
        return profile

    async def seen_in(self, name: str, channel: Channel, *, days: float) -> None:
        """`name` signed in to the app of `channel` `days` ago."""
        await self.session.execute(
            sa.update(IDENTITIES)
            .where(
                IDENTITIES.c.profile_id == self.people[name].id,
                IDENTITIES.c.app_id == APPS[channel],
            )
            .values(last_seen_at=days_ago(days))
        )

    async def does(
        self,
        name: str,
        kind: str = "page_view",
        *,
        days: float = 1,
        channel: Channel = Channel.MINI_PROGRAM,
        **properties: Any,
    ) -> None:
        [outcome] = await record_events(
            session=self.session,
            vault=self.vault,
            events=[
                EventInput(
                    event_id=f"T-{next(_serial)}",
                    type=kind,
                    channel=channel,
                    occurred_at=days_ago(days),
                    profile_id=self.people[name].public_id,
                    properties=properties,
                )
            ],
        )
        assert outcome.status is EventStatus.ACCEPTED, outcome

    async def reads(self, name: str, category: str, *, days: float = 1, times: int = 1) -> None:
        for _ in range(times):
            await self.does(name, "article_read", days=days, category=category)

    async def is_tier(self, name: str, tier: Tier) -> None:
        await self.session.execute(
            sa.update(PROFILES).where(PROFILES.c.id == self.people[name].id).values(tier=tier)
        )

    async def born(self, name: str, month: int) -> None:
        await update_personal_fields(
            session=self.session,
            vault=self.vault,
            profile=self.people[name],
            birthday=date(1990, month, 15),
        )

    async def chooses(
        self, name: str, purpose: ConsentPurpose, channel: Channel, yes: bool
    ) -> None:
        await update_consents(
            session=self.session,
            actor=TOWNSFOLK,
            profile=self.people[name],
            choices=[Choice(purpose, channel, yes)],
        )

    def named(self, ids: set[int]) -> set[str]:
        return {n for n, p in self.people.items() if p.id in ids}


@asynccontextmanager
async def building(
    database: Database, vault: Vault, town: Town | None = None
) -> AsyncIterator[Town]:
    """A transaction adding to `town` (a new one if None); committed when the block ends."""
    async with audited(database) as session:
        if town is None:
            town = Town(session=session, vault=vault, settings=database.settings)
        else:
            town.session = session
        yield town


async def members_of(database: Database, town: Town, audience: str) -> set[str]:
    async with database.transaction() as session:
        ids = await session.scalars(
            sa.select(TAGS.c.profile_id).where(TAGS.c.tag == audience, TAGS.c.source == "RULE")
        )
        return town.named(set(ids))


async def history_of(database: Database, town: Town, audience: str) -> list[tuple[str, ...]]:
    """(person, change, why, trigger) in order."""
    async with database.transaction() as session:
        rows = await session.execute(
            sa.select(CHANGES.c.profile_id, CHANGES.c.change, CHANGES.c.why, CHANGES.c.trigger)
            .join(AUDIENCES, AUDIENCES.c.id == CHANGES.c.audience_id)
            .where(AUDIENCES.c.name == audience)
            .order_by(CHANGES.c.id)
        )
        by_id = {p.id: n for n, p in town.people.items()}
        return [(by_id[pid], str(c), str(w), str(t)) for pid, c, w, t in rows]


async def queued(database: Database) -> list[int]:
    async with database.transaction() as session:
        return list(await session.scalars(sa.select(QUEUE.c.profile_id).order_by(QUEUE.c.id)))
