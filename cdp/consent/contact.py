"""The contact decision (consent and frequency caps) and recording contacts under those
caps, serialised per person, purpose and channel.

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.channels import Channel
from cdp.config_models import ContactCap
from cdp.consent.models import DEFAULT_GRANTED, Consent, ConsentPurpose, Contact
from cdp.db import lock_names, utcnow
from cdp.errors import conflict
from cdp.idempotency import earlier_write
from cdp.profiles.models import Profile
from cdp.text import clean_key


class Reason(StrEnum):
    CONSENTED = "CONSENTED"  # the person said yes
    DEFAULT = "DEFAULT"  # no choice recorded, and the purpose is on by default
    NO_CONSENT = "NO_CONSENT"  # no choice recorded, and the purpose needs an opt-in
    OPTED_OUT = "OPTED_OUT"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    SUPPRESSED = "SUPPRESSED"  # the person was erased
    # The send decision's further reasons (cdp/activation/decision.py), for a template.
    CHANNEL_CAP = "CHANNEL_CAP"
    TOPIC_CAP = "TOPIC_CAP"
    NO_RECIPIENT = "NO_RECIPIENT"
    NOT_FOLLOWING = "NOT_FOLLOWING"
    NO_SUBSCRIPTION = "NO_SUBSCRIPTION"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason


class ContactAsk(NamedTuple):
    """A contact the brand would make: to whom, for what, in which channel."""

    profile: Profile
    purpose: ConsentPurpose
    channel: Channel


# The reasons a contact may be made.
ALLOWED = (Reason.CONSENTED.value, Reason.DEFAULT.value)


def reason_of(
    profile_id: sa.ColumnElement[int],
    *,
    purpose: ConsentPurpose,
    channel: Channel,
    caps: Mapping[str, ContactCap],
    now: datetime,
) -> sa.ColumnElement[str]:
    """The decision for the person `profile_id` names, as one SQL expression (a Reason's
    value): what canContact answers for one person and audiences' member lists filter on."""
    choice = (
        sa.select(col(Consent.granted))
        .where(
            col(Consent.profile_id) == profile_id,
            col(Consent.purpose) == purpose,
            col(Consent.channel) == channel,
        )
        .scalar_subquery()
    )
    refusals: list[tuple[sa.ColumnElement[bool], str]] = []
    if not DEFAULT_GRANTED[purpose]:
        refusals.append((choice.is_(None), Reason.NO_CONSENT.value))
    refusals.append((choice == sa.false(), Reason.OPTED_OUT.value))
    cap = caps.get(purpose.value)
    if cap is not None:
        sent = (
            sa.select(sa.func.count())
            .select_from(Contact)
            .where(
                col(Contact.profile_id) == profile_id,
                col(Contact.purpose) == purpose,
                col(Contact.channel) == channel,
                col(Contact.sent_at) > now - timedelta(hours=cap.hours),
            )
            .scalar_subquery()
        )
        refusals.append((sent >= cap.limit, Reason.FREQUENCY_CAP.value))
    given = sa.case((choice.is_(None), Reason.DEFAULT.value), else_=Reason.CONSENTED.value)
    return sa.case(*refusals, else_=given)


async def can_contact(
    *,
    session: AsyncSession,
    ask: ContactAsk,
    caps: Mapping[str, ContactCap],
    now: datetime | None = None,
) -> Decision:
    """May the brand make this contact now, and why (not): one statement."""
    profile, purpose, channel = ask
    assert profile.id is not None
    decision = reason_of(
        sa.literal(profile.id, sa.Integer),
        purpose=purpose,
        channel=channel,
        caps=caps,
        now=now or utcnow(),
    )
    reason = Reason(str(await session.scalar(sa.select(decision))))
    return Decision(reason.value in ALLOWED, reason)


_CONTACT_BY_KEY = sa.select(Contact).where(col(Contact.idempotency_key) == sa.bindparam("key"))


async def record_contact(
    *,
    session: AsyncSession,
    ask: ContactAsk,
    caps: Mapping[str, ContactCap],
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Contact:
    """Record a send, if it is allowed now; CONFLICT naming the reason otherwise. Sends to
    one person, purpose and channel are serialised, so a cap holds across instances."""
    profile, purpose, channel = ask
    assert profile.id is not None
    now = now or utcnow()
    key = None if idempotency_key is None else clean_key(idempotency_key)
    names: list[tuple[str, ...]] = [("contact", str(profile.id), purpose.value, channel.value)]
    if key is not None:
        names.append(("contact-key", key))  # one key, one contact, whatever the channel
    await lock_names(session, names)
    asked = (profile.id, purpose, channel)
    if key is not None:
        replay = await earlier_write(
            session,
            _CONTACT_BY_KEY,
            {"key": key},
            same=lambda held: (held.profile_id, held.purpose, held.channel) == asked,
            what="a different contact",
            action="contact.record",
            profile_id=profile.id,
            detail=lambda _: {"purpose": purpose.value},
        )
        if replay is not None:
            return replay
    decision = await can_contact(session=session, ask=ask, caps=caps, now=now)
    if not decision.allowed:
        raise conflict(f"contact not allowed: {decision.reason.value}")
    contact = Contact(
        profile_id=profile.id, purpose=purpose, channel=channel, idempotency_key=key, sent_at=now
    )
    session.add(contact)
    await session.flush()
    detail = {"purpose": purpose.value, "channel": channel.value}
    audit.record(session, action="contact.record", profile_id=profile.id, detail=detail)
    return contact
