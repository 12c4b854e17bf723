"""The identity graph: linking app identities to profiles, and finding a profile.

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.channels import APP_CHANNELS, Channel
from cdp.config import Settings
from cdp.db import lock_names, lock_profiles, utcnow
from cdp.errors import bad_input, conflict
from cdp.keys.vault import Vault
from cdp.profiles.merge import merge_profiles
from cdp.profiles.models import Identity, Profile, ProfileMerge
from cdp.profiles.personal import seal_open_id, write_field
from cdp.profiles.values import (
    PostalAddress,
    clean_identifier,
    normalize_phone,
    optional_identifier,
)
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import refuse_if_suppressed, refuse_if_under_erasure
from cdp.text import clean_text


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    profile: Profile
    created_profile: bool
    created_identity: bool
    merged_profile_ids: tuple[int, ...]


async def link_identity(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Principal,
    channel: Channel,
    app_id: str,
    open_id: str,
    union_id: str | None = None,
    now: datetime | None = None,
) -> LinkOutcome:
    """Attach an app identity to its person, creating, upgrading or merging profiles.

    First sight creates a profile; a known UnionID attaches the OpenID to its profile; an
    OpenID-only profile gains the UnionID when it arrives; a UnionID that shows two profiles
    are one person merges them into the older one.
    """
    del actor  # the session's audit trail names who acts
    if channel not in APP_CHANNELS:
        raise bad_input(f"{channel.value} is not an app channel", field="channel")
    app_id = clean_identifier(app_id, field="appId")
    open_id = clean_identifier(open_id, field="openId")
    union_id = optional_identifier(union_id, field="unionId")

    open_bidx = vault.blind_index("open_id", open_id)
    union_bidx = vault.blind_index("union", union_id) if union_id else None
    await refuse_if_suppressed(
        session,
        [(SuppressionKind.OPEN_ID, open_bidx)]
        + ([(SuppressionKind.UNION_ID, union_bidx)] if union_bidx is not None else []),
    )
    names: list[tuple[str, ...]] = [("identity", app_id, open_bidx.hex())]
    if union_bidx is not None:
        names.append(("union", union_bidx.hex()))
    await lock_names(session, names)
    identity, by_open, by_union = await _linked(session, app_id, open_bidx, union_bidx)
    held = {p.id for p in (by_open, by_union) if p is not None and p.id is not None}
    # Hold the profiles we write to; a merge that folded one away meanwhile shows on a
    # second look.
    if held and await lock_profiles(session, held, exclusive=False):
        identity, by_open, by_union = await _linked(session, app_id, open_bidx, union_bidx)
    for profile_id in held:
        await refuse_if_under_erasure(session, profile_id)
    if identity is not None and identity.channel is not channel:
        raise conflict(f"appId is registered as {identity.channel.value}, not {channel.value}")
    if by_open is not None and union_bidx and by_open.union_id_bidx not in (None, union_bidx):
        raise conflict("this OpenID already belongs to a different UnionID")

    now = now or utcnow()  # a past `now` imports history: when the identity was first seen
    merged: tuple[int, ...] = ()
    created_profile = False
    if by_open is not None and by_union is not None and by_open.id != by_union.id:
        survivor, loser = sorted((by_open, by_union), key=lambda p: p.id or 0)
        merged = (loser.id or 0,)
        await merge_profiles(
            session=session,
            vault=vault,
            settings=settings,
            survivor=survivor,
            loser=loser,
            reason="union_id",
        )
        profile = survivor
    elif by_open is not None or by_union is not None:
        profile = by_open or by_union  # type: ignore[assignment]
    else:
        profile = Profile(created_at=now, updated_at=now)
        session.add(profile)
        created_profile = True
        await session.flush()
        assert profile.id is not None
        vault.new_profile(profile.id)

    if union_id and profile.union_id_bidx != union_bidx:
        await write_field(
            session=session, vault=vault, profile=profile, field="union_id", value=union_id
        )
        profile.updated_at = now

    if identity is None:
        assert profile.id is not None
        identity = Identity(
            profile_id=profile.id,
            channel=channel,
            app_id=app_id,
            open_id_bidx=open_bidx,
            linked_at=now,
            last_seen_at=now,
        )
        await seal_open_id(session=session, vault=vault, identity=identity, open_id=open_id)
        session.add(identity)
        created_identity = True
    else:
        identity.last_seen_at = now
        created_identity = False
    await session.flush()
    audit.record(
        session,
        action="identity.link",
        profile_id=profile.id,
        detail={
            "channel": channel.value,
            "appId": app_id,
            "createdProfile": created_profile,
            "createdIdentity": created_identity,
            "mergedProfiles": list(merged),
        },
    )
    return LinkOutcome(
        profile=profile,
        created_profile=created_profile,
        created_identity=created_identity,
        merged_profile_ids=merged,
    )


async def _linked(
    session: AsyncSession, app_id: str, open_bidx: bytes, union_bidx: bytes | None
) -> tuple[Identity | None, Profile | None, Profile | None]:
    """The identity (app id, OpenID) and the profiles its OpenID and the UnionID lead to."""
    identity = await session.scalar(_IDENTITY_BY_KEY, {"app_id": app_id, "bidx": open_bidx})
    by_open = (
        await session.get(Profile, identity.profile_id, populate_existing=True)
        if identity
        else None
    )
    by_union = (
        await session.scalar(_PROFILE_BY_UNION, {"bidx": union_bidx})
        if union_bidx is not None
        else None
    )
    return identity, by_open, by_union


# Built once: every link runs them, and building a statement costs about what running it does.
_IDENTITY_BY_KEY = (
    select(Identity)
    .where(
        col(Identity.app_id) == sa.bindparam("app_id"),
        col(Identity.open_id_bidx) == sa.bindparam("bidx"),
    )
    .execution_options(populate_existing=True)
)
_PROFILE_BY_UNION = (
    select(Profile)
    .where(col(Profile.union_id_bidx) == sa.bindparam("bidx"))
    .execution_options(populate_existing=True)
)


async def writable_profile(*, session: AsyncSession, public_id: str) -> Profile | None:
    """The profile to write to, held (shared) until commit so no merge or erasure folds it
    away meanwhile; if one did while we waited, the profile it now lives on."""
    for _attempt in range(3):
        profile = await get_profile(session=session, public_id=public_id)
        if profile is None or profile.id is None:
            return None
        if not await lock_profiles(session, [profile.id], exclusive=False):
            await refuse_if_under_erasure(session, profile.id)
            return profile
        still = await session.scalar(
            sa.select(col(Profile.id)).where(col(Profile.id) == profile.id)
        )
        if still is not None:
            await session.refresh(profile)
            await refuse_if_under_erasure(session, profile.id)
            return profile
        session.expunge(profile)
    raise conflict("the profile was being merged; try again")


async def get_profile(*, session: AsyncSession, public_id: str) -> Profile | None:
    """The profile with this public id, following merges to the surviving profile."""
    profile = (
        await session.scalars(select(Profile).where(Profile.public_id == public_id))
    ).one_or_none()
    if profile is not None:
        return profile
    return (
        await session.scalars(
            select(Profile)
            .join(ProfileMerge, col(ProfileMerge.survivor_id) == col(Profile.id))
            .where(ProfileMerge.loser_public_id == public_id)
        )
    ).one_or_none()


async def find_profile(
    *,
    session: AsyncSession,
    vault: Vault,
    public_id: str | None = None,
    union_id: str | None = None,
    open_id: str | None = None,
    app_id: str | None = None,
    phone: str | None = None,
) -> Profile | None:
    """The one profile matched by exactly one lookup key (`app_id` narrows `open_id`)."""
    given = [
        k
        for k, v in (
            ("id", public_id),
            ("unionId", union_id),
            ("openId", open_id),
            ("phone", phone),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise bad_input("give exactly one of id, unionId, openId, phone")
    if app_id is not None and open_id is None:
        raise bad_input("appId narrows an openId lookup only", field="appId")
    if public_id is not None:
        return await get_profile(session=session, public_id=public_id.strip())
    if union_id is not None:
        bidx = vault.blind_index("union", clean_identifier(union_id, field="unionId"))
        query = select(Profile).where(col(Profile.union_id_bidx) == bidx)
    elif open_id is not None:
        bidx = vault.blind_index("open_id", clean_identifier(open_id, field="openId"))
        query = (
            select(Profile)
            .join(Identity, col(Identity.profile_id) == col(Profile.id))
            .where(col(Identity.open_id_bidx) == bidx)
        )
        if app_id is not None:
            query = query.where(Identity.app_id == clean_identifier(app_id, field="appId"))
    else:
        bidx = vault.blind_index("phone", normalize_phone(phone or ""))
        query = select(Profile).where(col(Profile.phone_bidx) == bidx)
    rows = (await session.scalars(query.distinct().limit(2))).all()
    if len(rows) > 1:
        raise conflict("the lookup matches more than one profile; narrow it (appId)")
    return rows[0] if rows else None


async def identities_of(
    *, session: AsyncSession, profile_ids: list[int]
) -> dict[int, list[Identity]]:
    """Identities per profile, oldest first, for many profiles in one statement."""
    rows = await session.scalars(
        select(Identity)
        .where(col(Identity.profile_id).in_(profile_ids))
        .order_by(col(Identity.profile_id), col(Identity.linked_at), col(Identity.id))
    )
    grouped: dict[int, list[Identity]] = {pid: [] for pid in profile_ids}
    for identity in rows:
        grouped[identity.profile_id].append(identity)
    return grouped


NAME_MAX_LENGTH = 64
ADDRESS_PART_MAX_LENGTH = 100
UNSET: Any = object()


def clean_address(address: PostalAddress, *, field: str = "address") -> PostalAddress:
    parts = {
        part: None
        if getattr(address, part) is None
        else clean_text(
            getattr(address, part), field=f"{field}.{part}", max_length=ADDRESS_PART_MAX_LENGTH
        )
        for part in ("province", "city", "district", "street")
    }
    if not any(parts.values()):
        raise bad_input(f"{field} needs at least one part", field=field)
    return PostalAddress(**parts)


def _clean_birthday(value: date, *, today: date) -> date:
    if value > today or value < date(1900, 1, 1):
        raise bad_input("birthday must be a real date in the past", field="birthday")
    return value


async def update_personal_fields(
    *,
    session: AsyncSession,
    vault: Vault,
    actor: Principal,
    profile: Profile,
    phone: str | None = UNSET,
    name: str | None = UNSET,
    address: PostalAddress | None = UNSET,
    birthday: date | None = UNSET,
) -> Profile:
    """Validate and set the personal fields given (None clears one; UNSET leaves it).

    Every value is validated before any is written: a bad one changes nothing.
    """
    del actor
    values: dict[str, Any] = {}
    if phone is not UNSET:
        values["phone"] = None if phone is None else normalize_phone(phone, mainland_mobile=True)
    if name is not UNSET:
        values["name"] = (
            None if name is None else clean_text(name, field="name", max_length=NAME_MAX_LENGTH)
        )
    if address is not UNSET:
        values["address"] = None if address is None else clean_address(address)
    if birthday is not UNSET:
        values["birthday"] = (
            None if birthday is None else _clean_birthday(birthday, today=utcnow().date())
        )
    for field, value in values.items():
        await write_field(session=session, vault=vault, profile=profile, field=field, value=value)
    audit.record(
        session,
        action="profile.update",
        profile_id=profile.id,
        fields=[{"field": field, "access": "write"} for field in sorted(values)],
    )
    profile.updated_at = utcnow()
    session.add(profile)
    await session.flush()
    return profile
