"""Seeding a database with demo people and what they did, through the real services (so the
data is sealed, indexed and audited exactly as production data would be)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.channels import Channel
from cdp.consent import service as consent
from cdp.db import Database, utcnow
from cdp.demo.activity import COUPONS, DemoActivity
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
from cdp.tags import service as tags
from cdp.tags.models import TagSource
from cdp.unit_of_work import audited_transaction, operator_trail

EVENT_WINDOW = timedelta(days=360)


async def _person(
    session: AsyncSession,
    vault: Vault,
    database: Database,
    people: DemoPeople,
    activity: DemoActivity,
    pending_events: list[events.EventInput],
    known: KnownPerson | None = None,
) -> str:
    settings, now = database.settings, utcnow()
    outcome = None
    if known is None:
        union_id = people.union_id()
        # First seen over the past year, in whichever app; the others followed.
        first_seen = activity.first_seen(now)
        channels = people.channels()
        seen = [(c, people.open_id(c)) for c in activity.rng.sample(channels, len(channels))]
    else:
        union_id, seen = known.union_id, list(known.open_ids.items())
        first_seen = now - timedelta(days=known.first_seen_days_ago)
    identities = []
    for offset, (channel, open_id) in enumerate(seen):
        app_id = people.brand.app_ids[channel]
        outcome = await link_identity(
            session=session,
            vault=vault,
            settings=settings,
            channel=channel,
            app_id=app_id,
            open_id=open_id,
            union_id=union_id,
            now=min(now, first_seen + timedelta(days=offset * activity.rng.randrange(30))),
        )
        identities.append((channel, app_id, open_id))
    assert outcome is not None and outcome.profile.id is not None
    profile = outcome.profile
    profile_id = outcome.profile.id
    if known is not None:
        profile.public_id = known.public_id  # the README's examples name it
    await service.update_personal_fields(
        session=session,
        vault=vault,
        profile=profile,
        phone=people.phone() if known is None else known.phone,
        name=people.name() if known is None else known.name,
        address=people.address() if known is None else known.address,
        birthday=people.birthday() if known is None else known.birthday,
    )
    tiers, address = TierThresholds.of(settings), people.address()
    count, office = activity.segment() if known is None else (known.orders, known.office_buyer)
    placed = activity.orders(first_seen, now, count, office)
    for order in placed:
        await orders.record_order(
            session=session,
            vault=vault,
            profile=profile,
            tiers=tiers,
            now=now,
            order=order.to_record(address if order.channel is not Channel.CHANNELS else None),
        )
        if order.status is not OrderStatus.REFUNDED:
            earned = sum(i.quantity * i.unit_price_fen for i in order.items) // 100
            await points.record_entry(
                session=session,
                profile=profile,
                kind=EntryKind.EARN,
                points=max(earned, 1),
                idempotency_key=f"demo-order-{order.external_id}",
                reason="消费积分",
                channel=order.channel,
                lifetime=settings.points_lifetime,
                now=order.paid_at,
            )
    balance = 0
    if placed:  # points come from orders only: without one there is no balance to ask about
        balances = await points.current_balances(session=session, profile_ids=[profile_id], now=now)
        balance = balances[profile_id]
    if balance >= 50 and activity.rng.random() < 0.3:
        await points.record_entry(
            session=session,
            profile=profile,
            kind=EntryKind.SPEND,
            points=-50,
            idempotency_key=f"demo-spend-{profile.public_id}",
            reason="积分兑换 可颂",
            channel=Channel.MINI_PROGRAM,
            lifetime=settings.points_lifetime,
            now=now,
        )
    issued = activity.coupons() if known is None else [COUPONS[i] for i in known.coupons]
    for n, (title, kind, fen, percent, minimum) in enumerate(issued):
        coupon = await coupons.issue_coupon(
            session=session,
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
            coupons.status_of(coupon, now) is coupons.CouponStatus.AVAILABLE
            and placed
            and known is None
            and (activity.rng.random() < 0.4)
        ):
            await coupons.redeem_coupon(
                session=session,
                coupon_id=coupon.public_id,
                channel=placed[-1].channel,
            )
    for tag, tagged_at in activity.tags(placed, first_seen, now):
        await tags.tag_profile(
            session=session,
            actor=SEEDER,
            profile=profile,
            tag=tag,
            source=TagSource.RULE,
            tagged_at=tagged_at,
        )
    choices = activity.consents() if known is None else list(known.consents)
    if choices:
        await consent.update_consents(
            session=session,
            actor=SEEDER,
            profile=profile,
            choices=choices,
            notice_version="2025-09",
            source_channel=identities[0][0],
        )
    for event_type, channel, entry, at in activity.events(first_seen, now):
        pending_events.append(
            events.EventInput(
                event_id=f"demo-{profile.public_id[:8]}-{len(pending_events)}",
                type=event_type,
                channel=channel,
                occurred_at=max(at, now - EVENT_WINDOW),
                profile_id=profile.public_id,
                entry=entry,
            )
        )
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
    return created
