"""Seeding analytics data: services called directly, then times moved back with plain UPDATEs;
the seeding fixture and the channels, apps and tables it uses."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.analytics.releases import AnalyticsRelease
from cdp.audit.models import AuditEvent
from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent.models import ConsentPurpose
from cdp.consent.service import Choice, update_consents
from cdp.db import Database
from cdp.events.service import EventInput, EventStatus, record_events
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.orders.models import Order, OrderStatus
from cdp.orders.service import LineItem, OrderInput, record_order
from cdp.orders.tiers import TierThresholds
from cdp.profiles.models import Identity, Profile
from cdp.profiles.service import get_profile
from cdp.tags.models import ProfileTag, TagSource
from cdp.tags.service import tag_profile
from tests.conftest import audited
from tests.support.people import CHANNELS_APP, MINI, OFFICIAL, WEB_APP

MINI_P, OA, VIDEO, WEB, SMS = (
    Channel.MINI_PROGRAM,
    Channel.OFFICIAL_ACCOUNT,
    Channel.CHANNELS,
    Channel.WEB,
    Channel.SMS,
)
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
APPS = {MINI_P: MINI, OA: OFFICIAL, VIDEO: CHANNELS_APP, WEB: WEB_APP}
SEEDER = Principal(subject="analytics-seed", role=Role.SERVICE)
PROFILES = Profile.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
TAGS = ProfileTag.__table__  # type: ignore[attr-defined]
ORDERS = Order.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
MARCH = ("2026-03-01", "2026-03-31")
_serial = itertools.count()


def sh(day: str, clock: str = "12:00") -> datetime:
    """A moment on a Shanghai wall clock (the brand's reporting time zone)."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


@dataclass
class Seed:
    session: AsyncSession
    vault: Vault
    settings: Settings
    people: dict[str, Profile] = field(default_factory=dict)

    async def join(self, name: str, when: datetime, channel: Channel = MINI_P) -> Profile:
        """First sight of `name` in `channel` at `when`: a new profile created then."""
        outcome = await link_identity(
            session=self.session,
            vault=self.vault,
            settings=self.settings,
            channel=channel,
            app_id=APPS[channel],
            open_id=f"o{channel.value[:4]}_{name}",
            union_id=f"u_{name}",
        )
        assert outcome.created_profile, name
        profile = self.people[name] = outcome.profile
        await self.session.execute(
            sa.update(PROFILES).where(PROFILES.c.id == profile.id).values(created_at=when)
        )
        await self.session.execute(
            sa.update(IDENTITIES)
            .where(IDENTITIES.c.profile_id == profile.id)
            .values(linked_at=when)
        )
        return profile

    async def again(self, name: str, public_id: str) -> None:
        """A person seeded in an earlier transaction, for this one."""
        profile = await get_profile(session=self.session, public_id=public_id)
        assert profile is not None, name
        self.people[name] = profile

    async def also(self, name: str, channel: Channel, when: datetime) -> None:
        """`name` is seen in another app at `when` (same UnionID: same person)."""
        outcome = await link_identity(
            session=self.session,
            vault=self.vault,
            settings=self.settings,
            channel=channel,
            app_id=APPS[channel],
            open_id=f"o{channel.value[:4]}_{name}",
            union_id=f"u_{name}",
        )
        assert outcome.profile.id == self.people[name].id and outcome.created_identity
        await self.session.execute(
            sa.update(IDENTITIES)
            .where(IDENTITIES.c.profile_id == outcome.profile.id, IDENTITIES.c.channel == channel)
            .values(linked_at=when)
        )

    async def buy(
        self,
        name: str,
        when: datetime,
        fen: int,
        *,
        channel: Channel = MINI_P,
        entry: str | None = None,
        status: OrderStatus = OrderStatus.PAID,
    ) -> None:
        await record_order(
            session=self.session,
            vault=self.vault,
            profile=self.people[name],
            order=OrderInput(
                channel=channel,
                external_id=f"A-{next(_serial)}",
                status=status,
                items=[LineItem("SKU-1", "商品", 1, fen)],
                paid_at=when,
                entry=entry,
            ),
            tiers=TierThresholds.of(self.settings),
            now=when + timedelta(minutes=1),
        )

    async def tag(self, name: str, tag: str, when: datetime) -> None:
        profile = self.people[name]
        await tag_profile(
            session=self.session, actor=SEEDER, profile=profile, tag=tag, source=TagSource.RULE
        )
        await self.session.execute(
            sa.update(TAGS)
            .where(TAGS.c.profile_id == profile.id, TAGS.c.tag == tag)
            .values(tagged_at=when)
        )

    async def choose(
        self, name: str, *choices: tuple[ConsentPurpose, Channel | None, bool]
    ) -> None:
        await update_consents(
            session=self.session,
            actor=SEEDER,
            profile=self.people[name],
            choices=[Choice(purpose, channel, granted) for purpose, channel, granted in choices],
        )

    async def deny_analytics(self, name: str, channel: Channel | None = SMS) -> None:
        await self.choose(name, (ConsentPurpose.ANALYTICS, channel, False))

    async def act(self, name: str, when: datetime) -> None:
        """A behaviour event of `name` at `when`."""
        [outcome] = await record_events(
            session=self.session,
            vault=self.vault,
            events=[
                EventInput(
                    event_id=f"E-{next(_serial)}",
                    type="page_view",
                    channel=MINI_P,
                    occurred_at=when,
                    profile_id=self.people[name].public_id,
                )
            ],
            now=when + timedelta(minutes=1),
        )
        assert outcome.status is EventStatus.ACCEPTED, outcome


@asynccontextmanager
async def seeding(database: Database, vault: Vault) -> AsyncIterator[Seed]:
    async with audited(database) as session:
        yield Seed(session=session, vault=vault, settings=database.settings)


async def unreleased(database: Database) -> None:
    """Forget every released period, as a deployment computing them afresh would: for tests
    that change the data of a period already answered and check the new answer."""
    async with database.transaction() as session:
        await session.execute(sa.delete(AnalyticsRelease.__table__))  # type: ignore[attr-defined]


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]
