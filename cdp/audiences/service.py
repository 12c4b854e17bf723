"""Defining audiences, counting them, and listing the members a service may contact.

Keyword-only functions that take the session and the acting principal and never commit.
Counts are of people; who they are is never returned to the roles that count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audiences import compiler
from cdp.audiences.compiler import P, T
from cdp.audiences.definition import parse_definition
from cdp.audiences.membership import RULE, Applied, refresh, scope_of
from cdp.audiences.models import DESCRIPTION_MAX, Audience
from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.channels import Channel
from cdp.config import Settings
from cdp.config_models import ContactCap
from cdp.consent.contact import ALLOWED, reason_of
from cdp.consent.models import ConsentPurpose
from cdp.db import lock_names, utcnow
from cdp.distribution import sequential_on_citus
from cdp.errors import bad_input, conflict, not_found
from cdp.tags.service import clean_tag
from cdp.text import check_text


@dataclass(frozen=True)
class Defined:
    audience: Audience
    applied: Applied
    created: bool


def _description(value: str | None) -> str:
    text = " ".join(check_text(value or "", field="description").split())
    if len(text) > DESCRIPTION_MAX:
        raise bad_input(
            f"description is longer than {DESCRIPTION_MAX} characters", field="description"
        )
    return text


async def define_audience(
    *,
    session: AsyncSession,
    actor: Principal,
    settings: Settings,
    name: str,
    definition: Any,
    description: str | None = None,
    now: datetime | None = None,
) -> Defined:
    """Create the audience, or give it a new definition, and compute its members at once.
    CONFLICT when a new audience's name is already a tag someone carries."""
    name = clean_tag(name)
    parse_definition(definition)  # every path checked before anything is written
    text = _description(description)
    now = now or utcnow()
    await lock_names(session, [("audience", name)])
    await sequential_on_citus(session)
    audience = await audience_named(session=session, name=name)
    created = audience is None
    if audience is None:
        taken = await session.scalar(sa.select(T.c.id).where(T.c.tag == name).limit(1))
        if taken is not None:
            raise conflict(f"{name!r} is already a tag on profiles: an audience needs its own name")
        audience = Audience(
            name=name,
            description=text,
            definition=definition,
            created_by=actor.subject,
            updated_by=actor.subject,
            created_at=now,
            updated_at=now,
        )
    elif audience.definition != definition or audience.description != text:
        if audience.definition != definition:
            audience.version += 1
        audience.definition, audience.description = definition, text
        audience.updated_by, audience.updated_at = actor.subject, now
    session.add(audience)
    await session.flush()
    audit.record(
        session,
        action="audience.define",
        detail={"audience": name, "version": audience.version, "created": created},
    )
    applied = await refresh(session=session, audience=audience, settings=settings, now=now)
    return Defined(audience, applied, created)


async def preview_count(
    *, session: AsyncSession, settings: Settings, definition: Any, now: datetime | None = None
) -> int:
    """How many people the definition holds for now (one COUNT over the compiled SQL)."""
    node = parse_definition(definition)
    scope = scope_of(session, settings, now or utcnow())
    total = int(await session.scalar(compiler.count(node, scope)) or 0)
    audit.record(session, action="audience.preview", detail={"conditions": _size(definition)})
    return total


def _size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_size(v) for k, v in value.items() if k in ("all", "any", "not")) or 1
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    return 0


async def audience_named(*, session: AsyncSession, name: str) -> Audience | None:
    return await session.scalar(sa.select(Audience).where(col(Audience.name) == name))


async def list_audiences(
    *, session: AsyncSession, limit: int, after: int | None
) -> Sequence[Audience]:
    """Audiences in the order they were created, `limit` at a time after the id `after`."""
    query = sa.select(Audience).order_by(col(Audience.id)).limit(limit)
    if after is not None:
        query = query.where(col(Audience.id) > after)
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class Member:
    key: int  # the internal id: the page's position, never shown
    public_id: str
    since: datetime


async def contactable_members(
    *,
    session: AsyncSession,
    name: str,
    purpose: ConsentPurpose,
    channel: Channel,
    caps: Mapping[str, ContactCap],
    limit: int,
    after: int | None,
    now: datetime | None = None,
) -> list[Member]:
    """Members the brand may contact for `purpose` in `channel` now (the decision of
    canContact, evaluated in the same statement), in a stable order, `limit` at a time."""
    audience = await audience_named(session=session, name=clean_tag(name))
    if audience is None:
        raise not_found("No audience with this name")
    now = now or utcnow()
    decision = reason_of(P.c.id, purpose=purpose, channel=channel, caps=caps, now=now)
    query = (
        sa.select(P.c.id, P.c.public_id, T.c.tagged_at)
        .join(T, T.c.profile_id == P.c.id)
        .where(
            T.c.tag == audience.name,
            T.c.source == RULE,
            decision.in_(ALLOWED),
            ~P.c.id.in_(compiler.excluded()),
        )
        .order_by(P.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(P.c.id > after)
    rows = (await session.execute(query)).all()
    audit.record(
        session,
        action="audience.members",
        detail={
            "audience": audience.name,
            "purpose": purpose.value,
            "channel": channel.value,
            "returned": len(rows),
        },
    )
    return [Member(int(key), str(public_id), since) for key, public_id, since in rows]
