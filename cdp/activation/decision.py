"""The one decision for every message cdp sends, extending canContact's (consent for the
purpose and channel, consent's per-purpose caps): the person is not erased or suppressed,
the channel's and the template's caps hold, there is someone to send to (an OpenID in the
template's app, a follower for an official account, a phone for SMS), a mini-program
subscribe message has an acceptance to spend, and quiet hours defer it.

One statement for any number of people, the same for one person and for a campaign: a row
of facts per person, judged in `judge` in a fixed order (the first refusal is the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation_config import MessageTemplate
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent.contact import ALLOWED, reason_of
from cdp.consent.models import ConsentPurpose, Contact
from cdp.outbox.models import COUNTED, OUTBOX
from cdp.profiles.models import Identity, Profile
from cdp.subscriptions.models import SubscribeGrant, WechatFollow
from cdp.suppression.models import ErasureRequest, ErasureStatus, Suppression, SuppressionKind

P: sa.Table = Profile.__table__  # type: ignore[attr-defined]
IDS: sa.Table = Identity.__table__  # type: ignore[attr-defined]
S: sa.Table = Suppression.__table__  # type: ignore[attr-defined]
R: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]
C: sa.Table = Contact.__table__  # type: ignore[attr-defined]
F: sa.Table = WechatFollow.__table__  # type: ignore[attr-defined]
G: sa.Table = SubscribeGrant.__table__  # type: ignore[attr-defined]
ERASED = (ErasureStatus.EXECUTING.value, ErasureStatus.COMPLETED.value)


class Refusal(StrEnum):
    """Why a message is not sent (consent's own reasons keep their names)."""

    SUPPRESSED = "SUPPRESSED"  # erased, or an identifier on the suppression list
    NO_CONSENT = "NO_CONSENT"
    OPTED_OUT = "OPTED_OUT"
    FREQUENCY_CAP = "FREQUENCY_CAP"  # consent's cap for the purpose (CDP_CONTACT_CAPS)
    CHANNEL_CAP = "CHANNEL_CAP"  # e.g. an official account's four pushes a month
    TOPIC_CAP = "TOPIC_CAP"  # e.g. the follow prompt's one a day
    NO_RECIPIENT = "NO_RECIPIENT"  # no OpenID in the template's app, or no phone
    NOT_FOLLOWING = "NOT_FOLLOWING"  # an official account's template messages need a follower
    NO_SUBSCRIPTION = "NO_SUBSCRIPTION"  # no one-time acceptance left for the template


@dataclass(frozen=True, slots=True)
class SendDecision:
    """`reason` is the refusal, or consent's CONSENTED/DEFAULT; an allowed message waits
    until `not_before` when that is set (quiet hours)."""

    allowed: bool
    reason: str
    not_before: datetime | None = None


def topic_of(name: str, template: MessageTemplate) -> str:
    return template.topic or name


def _count_at_least(query: sa.Select[Any], limit: int) -> sa.ColumnElement[bool]:
    return query.with_only_columns(sa.func.count()).scalar_subquery() >= limit


def facts(
    pid: sa.ColumnElement[int],
    name: str,
    template: MessageTemplate,
    settings: Settings,
    now: datetime,
) -> list[sa.ColumnElement[Any]]:
    """The columns `judge` reads, for the person `pid` names."""
    channel = Channel(template.channel)
    purpose = ConsentPurpose(template.purpose)
    consent = reason_of(pid, purpose=purpose, channel=channel, caps=settings.contact_caps, now=now)
    listed = sa.or_(
        sa.exists().where(
            S.c.kind == SuppressionKind.UNION_ID.value, S.c.bidx == P.c.union_id_bidx
        ),
        sa.exists().where(S.c.kind == SuppressionKind.PHONE.value, S.c.bidx == P.c.phone_bidx),
        sa.exists()
        .select_from(IDS.join(S, S.c.bidx == IDS.c.open_id_bidx))
        .where(IDS.c.profile_id == pid, S.c.kind == SuppressionKind.OPEN_ID.value),
        sa.exists().where(R.c.profile_id == pid, R.c.status.in_(ERASED)),
    )
    channel_capped = [
        _count_at_least(
            sa.select(C.c.id).where(
                C.c.profile_id == pid,
                C.c.channel == channel.value,
                C.c.sent_at > now - timedelta(hours=rule.hours),
            ),
            rule.limit,
        )
        for rule in settings.activation_caps
        if rule.channel == channel.value
    ]
    topic = topic_of(name, template)
    topic_capped = [
        _count_at_least(
            sa.select(OUTBOX.c.id).where(
                OUTBOX.c.profile_id == pid,
                OUTBOX.c.topic == topic,
                OUTBOX.c.state.in_(COUNTED),
                OUTBOX.c.created_at > now - timedelta(hours=rule.hours),
            ),
            rule.limit,
        )
        for rule in settings.activation_caps
        if rule.topic == topic
    ]
    if channel is Channel.SMS:
        recipient: sa.ColumnElement[bool] = P.c.phone_ct.is_not(None)
    else:
        recipient = sa.exists().where(IDS.c.profile_id == pid, IDS.c.app_id == template.app_id)
    following: sa.ColumnElement[bool] = sa.true()
    if channel is Channel.OFFICIAL_ACCOUNT:
        following = sa.exists().where(
            F.c.profile_id == pid, F.c.app_id == template.app_id, F.c.following == sa.true()
        )
    quota: sa.ColumnElement[bool] = sa.true()
    if channel is Channel.MINI_PROGRAM:
        quota = sa.exists().where(
            G.c.profile_id == pid,
            G.c.app_id == template.app_id,
            G.c.template_id == template.template_id,
            G.c.available > 0,
        )
    return [
        consent.label("consent"),
        listed.label("listed"),
        sa.or_(sa.false(), *channel_capped).label("channel_capped"),
        sa.or_(sa.false(), *topic_capped).label("topic_capped"),
        recipient.label("recipient"),
        following.label("following"),
        quota.label("quota"),
    ]


def judge(row: Any) -> str:
    """The first refusal among a person's facts, or consent's allowing reason."""
    if row is None or row.listed:
        return Refusal.SUPPRESSED.value
    if row.consent not in ALLOWED:
        return str(row.consent)
    for refused, reason in (
        (row.channel_capped, Refusal.CHANNEL_CAP),
        (row.topic_capped, Refusal.TOPIC_CAP),
        (not row.recipient, Refusal.NO_RECIPIENT),
        (not row.following, Refusal.NOT_FOLLOWING),
        (not row.quota, Refusal.NO_SUBSCRIPTION),
    ):
        if refused:
            return reason.value
    return str(row.consent)


async def decide(
    *,
    session: AsyncSession,
    profile_ids: Sequence[int],
    name: str,
    template: MessageTemplate,
    settings: Settings,
    now: datetime,
) -> dict[int, SendDecision]:
    """The decision for each of `profile_ids` (an id with no profile: SUPPRESSED)."""
    decided: dict[int, SendDecision] = {}
    not_before = quiet_until(now, settings) if template.quiet_hours else None
    if not profile_ids:
        return decided
    query = sa.select(P.c.id, *facts(P.c.id, name, template, settings, now)).where(
        P.c.id.in_(list(profile_ids))
    )
    rows = {row.id: row for row in await session.execute(query)}
    for pid in profile_ids:
        reason = judge(rows.get(pid))
        allowed = reason in ALLOWED
        decided[pid] = SendDecision(allowed, reason, not_before if allowed else None)
    return decided


def quiet_until(now: datetime, settings: Settings) -> datetime | None:
    """The end of quiet hours when `now` falls inside them (in the settings' time zone)."""
    zone = ZoneInfo(settings.activation_timezone)
    start_text, end_text = settings.activation_quiet_hours.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = now.astimezone(zone)
    at = local.time()
    inside = (start <= at or at < end) if start > end else (start <= at < end)
    if start == end or not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


async def recheck(
    *,
    session: AsyncSession,
    profile_id: int,
    template: MessageTemplate,
    settings: Settings,
    now: datetime,
) -> str | None:
    """Just before sending a queued message: its refusal if the person was erased or
    suppressed, or withdrew consent, since it was queued (caps were decided then, and count
    the message itself now)."""
    purpose, channel = ConsentPurpose(template.purpose), Channel(template.channel)
    consent = reason_of(P.c.id, purpose=purpose, channel=channel, caps={}, now=now)
    columns = facts(P.c.id, "", template, settings, now)
    listed = next(column for column in columns if column.name == "listed")
    row = (
        await session.execute(
            sa.select(consent.label("consent"), listed).where(P.c.id == profile_id)
        )
    ).first()
    if row is None or row.listed:
        return Refusal.SUPPRESSED.value
    return None if row.consent in ALLOWED else str(row.consent)
