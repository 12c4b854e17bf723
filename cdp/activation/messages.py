"""Queueing messages of a template for people, after the send decision, in the caller's
transaction (keyword-only, never committing): the decision, the contact it records (so that
canContact and the caps see it), the acceptance it spends, and the outbox row (REFUSED with
its reason when refused) commit together with what caused them, or not at all.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation.decision import C, G, SendDecision, decide, topic_of
from cdp.activation_config import MessageTemplate
from cdp.config import Settings
from cdp.db import lock_key, utcnow
from cdp.errors import bad_input
from cdp.outbox.queue import Outgoing, enqueue

KINDS = {"MINI_PROGRAM": "wechat.subscribe", "OFFICIAL_ACCOUNT": "wechat.template", "SMS": "sms"}


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person to send to, the idempotency key of this send to them, and the values of
    the template's variables for them."""

    profile_id: int
    key: str
    variables: Mapping[str, str] = field(default_factory=dict)
    due_at: datetime | None = None  # not before (a campaign's throttle)


@dataclass(frozen=True, slots=True)
class Queued:
    profile_id: int
    decision: SendDecision
    new: bool  # False: the key was queued before (nothing done again)


def template_named(settings: Settings, name: str) -> MessageTemplate:
    template = settings.activation_templates.get(name)
    if template is None:
        raise bad_input(f"no message template named {name!r} (CDP_ACTIVATION_TEMPLATES)")
    return template


def render(template: MessageTemplate, variables: Mapping[str, str]) -> dict[str, str]:
    """The template's fields with their variables filled in; BAD_USER_INPUT for one missing."""
    values = {k: str(v)[:200] for k, v in variables.items()}
    try:
        return {
            name: string.Formatter().vformat(text, (), values)
            for name, text in template.fields.items()
        }
    except KeyError as missing:
        raise bad_input(f"the template needs the variable {missing}") from None


async def queue_messages(
    *,
    session: AsyncSession,
    settings: Settings,
    name: str,
    recipients: Sequence[Recipient],
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> list[Queued]:
    """Decide and queue `name`'s message for each recipient; a key queued before is left."""
    template = template_named(settings, name)
    now = now or utcnow()
    await _serialise(session, [r.profile_id for r in recipients], template)
    decisions = await decide(
        session=session,
        profile_ids=[r.profile_id for r in recipients],
        name=name,
        template=template,
        settings=settings,
        now=now,
    )
    kind, topic = KINDS[template.channel], topic_of(name, template)
    outgoing = []
    for recipient in recipients:
        decision = decisions[recipient.profile_id]
        due = [d for d in (decision.not_before, recipient.due_at) if d is not None]
        payload = {"template": name, "data": render(template, recipient.variables)}
        outgoing.append(
            Outgoing(
                kind=kind,
                key=recipient.key,
                payload=payload,
                profile_id=recipient.profile_id if decision.reason != "SUPPRESSED" else None,
                purpose=template.purpose,
                channel=template.channel,
                topic=topic,
                campaign_id=campaign_id,
                due_at=max(due) if due else None,
                refused=None if decision.allowed else decision.reason,
            )
        )
    new = await enqueue(session=session, messages=outgoing, now=now)
    sending = [r for r in recipients if r.key in new and decisions[r.profile_id].allowed]
    if sending:
        await session.execute(
            sa.insert(C),
            [
                {
                    "profile_id": r.profile_id,
                    "purpose": template.purpose,
                    "channel": template.channel,
                    "idempotency_key": r.key,
                    "sent_at": now,
                }
                for r in sending
            ],
        )
        if template.channel == "MINI_PROGRAM":
            await spend_acceptances(session, [r.profile_id for r in sending], template, -1)
    return [Queued(r.profile_id, decisions[r.profile_id], r.key in new) for r in recipients]


async def spend_acceptances(
    session: AsyncSession, profile_ids: Sequence[int], template: MessageTemplate, by: int
) -> None:
    """Take (`by` -1) or give back (+1) one acceptance of the template per person."""
    if profile_ids:
        await session.execute(
            sa.update(G)
            .where(
                G.c.profile_id.in_(list(profile_ids)),
                G.c.app_id == template.app_id,
                G.c.template_id == template.template_id,
                G.c.available + by >= 0,
            )
            .values(available=G.c.available + by)
        )


async def _serialise(
    session: AsyncSession, profile_ids: Sequence[int], template: MessageTemplate
) -> None:
    # Two sends to one person and channel decide one after the other, so that a cap holds
    # across workers (consent's record_contact takes the same locks). SQLite: BEGIN
    # IMMEDIATE serialises writers already. One statement for any number of people.
    if session.get_bind().dialect.name != "postgresql" or not profile_ids:
        return
    keys = sorted(
        {lock_key("contact", str(pid), template.purpose, template.channel) for pid in profile_ids}
    )
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": keys},
    )
