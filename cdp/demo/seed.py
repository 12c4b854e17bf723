"""Seeding a database with demo people and what they did, through the real services (so the
data is sealed, indexed and audited exactly as production data would be)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audiences.demo import define_demo_audiences
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent import service as consent
from cdp.db import Database, utcnow
from cdp.demo.activity import COUPONS, DemoActivity, DemoOrder
from cdp.demo.known import KNOWN_PEOPLE, KnownPerson
from cdp.demo.people import SEEDER, DemoPeople
from cdp.events import service as events
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.linking.link import link_identity
from cdp.loyalty import coupons, points
from cdp.loyalty.models import EntryKind
from cdp.orders import service as orders
from cdp.orders.models import OrderStatus
from cdp.orders.tiers import TierThresholds
from cdp.profiles import service
from cdp.profiles.models import PhoneSource, Profile
from cdp.tags import service as tags
from cdp.tags.models import TagSource
from cdp.unit_of_work import audited_transaction, operator_trail

EVENT_WINDOW = timedelta(days=360)


@dataclass
class _Person:
    """One demo person being made: who, and the order they were seen, shopped and chose in.

    The steps run in a fixed order and draw from the shared random sources in that order, so
    the same seed gives the same people.
    """

    session: AsyncSession
    vault: Vault
    settings: Settings
    people: DemoPeople
    activity: DemoActivity
    known: KnownPerson | None
    now: datetime = field(default_factory=utcnow)

    async def identify(self) -> tuple[Profile, datetime, Channel]:
        """Linked in each app it was seen in, then its personal fields; the first channel."""
        people, activity, known, now = self.people, self.activity, self.known, self.now
        if known is None:
            union_id = people.union_id()
            # First seen over the past year, in whichever app; the others followed.
            first_seen = activity.first_seen(now)
            channels = people.channels()
            seen = [(c, people.open_id(c)) for c in activity.rng.sample(channels, len(channels))]
        else:
            union_id, seen = known.union_id, list(known.open_ids.items())
            first_seen = now - timedelta(days=known.first_seen_days_ago)
        outcome = None
        for offset, (channel, open_id) in enumerate(seen):
            outcome = await link_identity(
                session=self.session,
                vault=self.vault,
                settings=self.settings,
                channel=channel,
                app_id=people.brand.app_ids[channel],
                open_id=open_id,
                union_id=union_id,
                now=min(now, first_seen + timedelta(days=offset * activity.rng.randrange(30))),
            )
        assert outcome is not None and outcome.profile.id is not None
        profile = outcome.profile
        if known is not None:
            profile.public_id = known.public_id  # the README's examples name it
        phone = people.phone() if known is None else known.phone
        await service.update_personal_fields(
            session=self.session,
            vault=self.vault,
            profile=profile,
            phone=phone,
            name=people.name() if known is None else known.name,
            address=people.address() if known is None else known.address,
            birthday=people.birthday() if known is None else known.birthday,
        )
        # Most members authorised their phone in the mini-program (getPhoneNumber); the rest
        # typed it in. The documented people's phones are verified. (Chosen from the number,
        # not the shared random stream, so the rest of the demo data stays as it was.)
        if known is not None or int(hashlib.sha256(phone.encode()).hexdigest(), 16) % 10 < 7:
            profile.phone_verified, profile.phone_source = True, PhoneSource.WECHAT
        return profile, first_seen, seen[0][0]

    async def shop(self, profile: Profile, first_seen: datetime) -> list[DemoOrder]:
        """Orders over the year, each paid one earning points (refunds earn none)."""
        activity, known, settings = self.activity, self.known, self.settings
        tiers, address = TierThresholds.of(settings), self.people.address()
        count, office = activity.segment() if known is None else (known.orders, known.office_buyer)
        placed = activity.orders(first_seen, self.now, count, office)
        for order in placed:
            await orders.record_order(
                session=self.session,
                vault=self.vault,
                profile=profile,
                tiers=tiers,
                now=self.now,
                order=order.to_record(address if order.channel is not Channel.CHANNELS else None),
            )
            if order.status is not OrderStatus.REFUNDED:
                earned = sum(i.quantity * i.unit_price_fen for i in order.items) // 100
                await self._points(
                    profile, EntryKind.EARN, max(earned, 1), f"demo-order-{order.external_id}",
                    "消费积分", order.channel, order.paid_at,
                )  # fmt: skip
        return placed

    async def spend(self, profile: Profile, placed: list[DemoOrder]) -> None:
        """Some spend 50 of their points on a croissant."""
        assert profile.id is not None
        balance = 0
        if placed:  # points come from orders only: without one there is no balance to ask about
            balances = await points.current_balances(
                session=self.session, profile_ids=[profile.id], now=self.now
            )
            balance = balances[profile.id]
        if balance >= 50 and self.activity.rng.random() < 0.3:
            await self._points(
                profile, EntryKind.SPEND, -50, f"demo-spend-{profile.public_id}",
                "积分兑换 可颂", Channel.MINI_PROGRAM, self.now,
            )  # fmt: skip

    async def _points(
        self,
        profile: Profile,
        kind: EntryKind,
        amount: int,
        key: str,
        reason: str,
        channel: Channel,
        at: datetime,
    ) -> None:
        await points.record_entry(
            session=self.session,
            profile=profile,
            kind=kind,
            points=amount,
            idempotency_key=key,
            reason=reason,
            channel=channel,
            lifetime=self.settings.points_lifetime,
            now=at,
        )

    async def collect_coupons(
        self, profile: Profile, first_seen: datetime, placed: list[DemoOrder]
    ) -> None:
        """Coupons issued over the year; some of the usable ones redeemed in the last order's
        channel."""
        activity, known = self.activity, self.known
        issued = activity.coupons() if known is None else [COUPONS[i] for i in known.coupons]
        for n, (title, kind, fen, percent, minimum) in enumerate(issued):
            coupon = await coupons.issue_coupon(
                session=self.session,
                profile=profile,
                title=title,
                discount_fen=fen,
                kind=kind,
                percent_off=percent,
                min_spend_fen=minimum,
                idempotency_key=f"demo-coupon-{profile.public_id}-{n}",
                valid_from=first_seen,
                valid_until=first_seen
                + timedelta(days=400 if known else activity.rng.choice((30, 90, 400))),
            )
            if (
                coupons.status_of(coupon, self.now) is coupons.CouponStatus.AVAILABLE
                and placed
                and known is None
                and (activity.rng.random() < 0.4)
            ):
                await coupons.redeem_coupon(
                    session=self.session, coupon_id=coupon.public_id, channel=placed[-1].channel
                )

    async def tag_and_choose(
        self, profile: Profile, first_seen: datetime, placed: list[DemoOrder], first: Channel
    ) -> None:
        """The rule tags its orders earn, and its consent choices (made in its first app)."""
        for tag, tagged_at in self.activity.tags(placed, first_seen, self.now):
            await tags.tag_profile(
                session=self.session,
                actor=SEEDER,
                profile=profile,
                tag=tag,
                source=TagSource.RULE,
                tagged_at=tagged_at,
            )
        choices = self.activity.consents() if self.known is None else list(self.known.consents)
        if choices:
            await consent.update_consents(
                session=self.session,
                actor=SEEDER,
                profile=profile,
                choices=choices,
                notice_version="2026-01",
                source_channel=first,
            )

    def behave(
        self, profile: Profile, first_seen: datetime, pending: list[events.EventInput]
    ) -> None:
        """Its behaviour events, queued to be recorded in batches with everyone else's."""
        for event_type, channel, entry, at in self.activity.events(first_seen, self.now):
            pending.append(
                events.EventInput(
                    event_id=f"demo-{profile.public_id[:8]}-{len(pending)}",
                    type=event_type,
                    channel=channel,
                    occurred_at=max(at, self.now - EVENT_WINDOW),
                    profile_id=profile.public_id,
                    entry=entry,
                    properties=article_properties(entry),
                )
            )


ARTICLE_CATEGORIES = ("health", "coffee", "lifestyle")


def article_properties(entry: str | None) -> dict[str, object]:
    """An article read's article and its category (the article id decides: no random draw,
    so the same seed gives the same people as before categories)."""
    if entry is None or not entry.startswith("from=article&id="):
        return {}
    article = int(entry.rsplit("=", 1)[1])
    return {"articleId": article, "category": ARTICLE_CATEGORIES[article % 3]}


async def _person(
    session: AsyncSession,
    vault: Vault,
    database: Database,
    people: DemoPeople,
    activity: DemoActivity,
    pending_events: list[events.EventInput],
    known: KnownPerson | None = None,
) -> str:
    person = _Person(session, vault, database.settings, people, activity, known)
    profile, first_seen, first_channel = await person.identify()
    placed = await person.shop(profile, first_seen)
    await person.spend(profile, placed)
    await person.collect_coupons(profile, first_seen, placed)
    await person.tag_and_choose(profile, first_seen, placed, first_channel)
    person.behave(profile, first_seen, pending_events)
    return profile.public_id


async def seed_demo_data(
    database: Database,
    keyring: KeyringSource,
    *,
    keystore: KeyStore,
    profiles: int,
    seed: int = 2026,
    batch_size: int = 200,
    progress: Callable[[int], None] = lambda _n: None,
) -> list[str]:
    """Create `profiles` people, each seen in two to four of the brand's apps, with orders,
    points, coupons, tags, consent choices and events over the past year; their public ids.
    The first are the documented KNOWN_PEOPLE (as many as `profiles` allows)."""
    people, activity = DemoPeople(seed), DemoActivity(random.Random(seed + 1))
    created: list[str] = []
    while len(created) < profiles:
        trail = operator_trail(keyring.keyring, "cli:demo-data")
        async with audited_transaction(database, trail) as session:
            vault, pending = Vault(keyring, keystore), list[events.EventInput]()
            for _ in range(min(batch_size, profiles - len(created))):
                known = KNOWN_PEOPLE[len(created)] if len(created) < len(KNOWN_PEOPLE) else None
                created.append(
                    await _person(session, vault, database, people, activity, pending, known)
                )
                progress(1)
            for start in range(0, len(pending), events.MAX_BATCH):
                await events.record_events(
                    session=session,
                    vault=vault,
                    events=pending[start : start + events.MAX_BATCH],
                )
    # The articles' audiences, their members computed over everyone seeded.
    async with audited_transaction(
        database, operator_trail(keyring.keyring, "cli:demo-data")
    ) as session:
        await define_demo_audiences(session=session, actor=SEEDER, settings=database.settings)
    return created
