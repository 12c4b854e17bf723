"""Campaigns (keyword-only, never committing): schedule one, forecast it (a dry run through
the same send decision, counted by reason), queue its members batch by batch from the worker,
and its totals: queued, sent, failed, uncertain, refused by reason, and the people who
ordered within seven days of a message. Counts only, never a person: a count of fewer people
than the analytics' minimum group size is suppressed by the GraphQL layer's caller.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.activation.decision import decide
from cdp.activation.messages import Recipient, queue_messages, template_named
from cdp.activation.models import Campaign, CampaignStatus
from cdp.audit import trail as audit
from cdp.config import Settings
from cdp.db import as_utc, utcnow
from cdp.errors import bad_input, conflict, not_found
from cdp.orders.models import Order
from cdp.outbox.models import OUTBOX
from cdp.tags.models import ProfileTag, TagSource
from cdp.text import clean_text

BATCH = 1000
ATTRIBUTION = timedelta(days=7)


@dataclass
class Forecast:
    """A dry run: how many members, how many would be sent now, refused by which rule."""

    members: int = 0
    would_send: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    quiet_hours: bool = False  # sends would wait for quiet hours to end


@dataclass
class Totals:
    queued: int = 0
    sent: int = 0
    delivered: int = 0  # WeChat's delivery reports (message push) said so
    failed: int = 0
    uncertain: int = 0
    pending: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    ordered_within_7_days: int = 0


def _members(audience: str, after: int, limit: int) -> sa.Select[Any]:
    return (
        sa.select(col(ProfileTag.profile_id))
        .where(
            col(ProfileTag.tag) == audience,
            col(ProfileTag.source) == TagSource.RULE,
            col(ProfileTag.profile_id) > after,
        )
        .order_by(col(ProfileTag.profile_id))
        .limit(limit)
    )


async def schedule_campaign(
    *,
    session: AsyncSession,
    settings: Settings,
    actor: str,
    name: str,
    template: str,
    audience: str,
    starts_at: datetime | None,
    per_minute: int,
) -> Campaign:
    name = clean_text(name, field="name", max_length=64)
    template_named(settings, template)
    if not 1 <= per_minute <= 100_000:
        raise bad_input("perMinute is 1-100000", field="perMinute")
    if await session.scalar(sa.select(Campaign).where(col(Campaign.name) == name)) is not None:
        raise conflict(f"a campaign named {name!r} exists")
    campaign = Campaign(
        name=name,
        template=template,
        audience=clean_text(audience, field="audience", max_length=64),
        starts_at=starts_at or utcnow(),
        per_minute=per_minute,
        created_by=actor,
    )
    session.add(campaign)
    await session.flush()
    detail = {"campaign": name, "template": template, "audience": campaign.audience}
    audit.record(session, action="campaign.schedule", detail=detail)
    return campaign


async def campaign_named(*, session: AsyncSession, name: str) -> Campaign:
    found = await session.scalar(sa.select(Campaign).where(col(Campaign.name) == name.strip()))
    if found is None:
        raise not_found(f"no campaign named {name!r}")
    return found


async def cancel_campaign(*, session: AsyncSession, name: str) -> Campaign:
    """Stop queueing members (messages already queued still go; their decisions stand)."""
    campaign = await campaign_named(session=session, name=name)
    if campaign.status is not CampaignStatus.QUEUED:
        campaign.status = CampaignStatus.CANCELLED
    audit.record(session, action="campaign.cancel", detail={"campaign": campaign.name})
    return campaign


async def forecast(
    *, session: AsyncSession, settings: Settings, template: str, audience: str, now: datetime
) -> Forecast:
    """Who would receive `template` now and who would be refused by which rule: the send
    decision for every member, nothing written."""
    found = Forecast()
    chosen = template_named(settings, template)
    after = 0
    while ids := list((await session.scalars(_members(audience, after, BATCH))).all()):
        decisions = await decide(
            session=session,
            profile_ids=ids,
            name=template,
            template=chosen,
            settings=settings,
            now=now,
        )
        for decision in decisions.values():
            if decision.allowed:
                found.would_send += 1
                found.quiet_hours = found.quiet_hours or decision.not_before is not None
            else:
                found.refused[decision.reason] += 1
        found.members += len(ids)
        after = ids[-1]
    return found


async def advance(
    *, session: AsyncSession, settings: Settings, campaign: Campaign, now: datetime
) -> int:
    """Queue the campaign's next batch of members (throttled: the n-th is due n/perMinute
    minutes after the start); how many were decided. QUEUED after the last."""
    if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.QUEUED):
        return 0
    campaign.status = CampaignStatus.RUNNING
    ids = list((await session.scalars(_members(campaign.audience, campaign.position, BATCH))).all())
    if not ids:
        campaign.status, campaign.finished_at = CampaignStatus.QUEUED, now
        return 0
    start = max(campaign.starts_at, now)
    recipients = [
        Recipient(
            pid,
            f"campaign:{campaign.id}:{pid}",
            {"audience": campaign.audience, "date": start.date().isoformat()},
            due_at=start + timedelta(minutes=(campaign.queued + n) / campaign.per_minute),
        )
        for n, pid in enumerate(ids)
    ]
    await queue_messages(
        session=session,
        settings=settings,
        name=campaign.template,
        recipients=recipients,
        campaign_id=campaign.id,
        now=now,
    )
    campaign.position, campaign.queued = ids[-1], campaign.queued + len(ids)
    return len(ids)


async def due_campaigns(*, session: AsyncSession, now: datetime) -> list[Campaign]:
    rows = await session.scalars(
        sa.select(Campaign)
        .where(
            col(Campaign.status).in_([CampaignStatus.SCHEDULED, CampaignStatus.RUNNING]),
            col(Campaign.starts_at) <= now,
        )
        .order_by(col(Campaign.id))
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def totals(*, session: AsyncSession, campaign: Campaign) -> Totals:
    counts = Totals()
    rows = await session.execute(
        sa.select(OUTBOX.c.state, OUTBOX.c.reason, sa.func.count())
        .where(OUTBOX.c.campaign_id == campaign.id)
        .group_by(OUTBOX.c.state, OUTBOX.c.reason)
    )
    for state, reason, n in rows:
        counts.queued += n
        if state == "REFUSED":
            counts.refused[str(reason)] += n
        elif state == "SENT":
            counts.sent += n
        elif state == "DEAD":
            counts.failed += n
        elif state == "UNCERTAIN":
            counts.uncertain += n
        else:
            counts.pending += n
    reports = await session.execute(
        sa.select(OUTBOX.c.result).where(
            OUTBOX.c.campaign_id == campaign.id, OUTBOX.c.state == "SENT"
        )
    )
    counts.delivered = sum(1 for (result,) in reports if (result or {}).get("delivered") is True)
    # Attribution in Python: date arithmetic differs between the two databases.
    sent_at = {
        pid: as_utc(at)
        for pid, at in await session.execute(
            sa.select(OUTBOX.c.profile_id, sa.func.min(OUTBOX.c.finished_at))
            .where(
                OUTBOX.c.campaign_id == campaign.id,
                OUTBOX.c.state == "SENT",
                OUTBOX.c.profile_id.is_not(None),
            )
            .group_by(OUTBOX.c.profile_id)
        )
    }
    if sent_at:
        orders: sa.Table = Order.__table__  # type: ignore[attr-defined]
        sent = sa.select(OUTBOX.c.profile_id).where(
            OUTBOX.c.campaign_id == campaign.id, OUTBOX.c.state == "SENT"
        )
        ordered = set()
        for pid, paid_at in await session.execute(
            sa.select(orders.c.profile_id, orders.c.paid_at).where(
                orders.c.profile_id.in_(sent), orders.c.paid_at >= min(sent_at.values())
            )
        ):
            if sent_at[pid] <= as_utc(paid_at) < sent_at[pid] + ATTRIBUTION:
                ordered.add(pid)
        counts.ordered_within_7_days = len(ordered)
    return counts
