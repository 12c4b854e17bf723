"""Finding a profile (by public id or one lookup key), holding it for a write, and updating
its personal fields; linking identities to profiles is cdp.linking.

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cdp.audit import trail as audit
from cdp.db import lock_profiles, utcnow
from cdp.errors import bad_input, conflict, not_found
from cdp.keys.vault import Vault
from cdp.profiles import directory
from cdp.profiles.directory import KeyKind
from cdp.profiles.models import Identity, PhoneSource, Profile, ProfileMerge
from cdp.profiles.personal import write_field
from cdp.profiles.values import (
    PostalAddress,
    ProfileKeys,
    clean_identifier,
    normalize_phone,
)
from cdp.reevaluation import note as reevaluate
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import hash_of, refuse_if_suppressed, refuse_if_under_erasure
from cdp.text import clean_text


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


async def target_profile(*, session: AsyncSession, vault: Vault, public_id: str) -> Profile:
    """The profile a mutation names by public id, held as `writable_profile` holds it and named
    as the mutation's audited target (a refusal is recorded against it); SUPPRESSED when it was
    erased, NOT_FOUND otherwise."""
    public_id = public_id.strip()
    profile = await writable_profile(session=session, public_id=public_id)
    if profile is None:
        erased = hash_of(vault, SuppressionKind.PROFILE, public_id)
        await refuse_if_suppressed(session, [(SuppressionKind.PROFILE, erased)])
        raise not_found("No profile with this id")
    audit.set_target(session, profile.id)
    note_alias(session, public_id, profile)
    return profile


async def get_profile(*, session: AsyncSession, public_id: str) -> Profile | None:
    """The profile with this public id, following merges to the surviving profile (the
    final one of a chain: a merge repoints its loser's earlier losers). Found through the
    directory, then by id (on Citus: one shard of each)."""
    found = await profiles_by_keys(session, [directory.public_id_key(public_id)])
    if found:
        return found[0]
    survivor_id = await session.scalar(
        select(ProfileMerge.survivor_id).where(ProfileMerge.loser_public_id == public_id)
    )
    return None if survivor_id is None else await profile_by_id(session, survivor_id)


async def profile_by_id(session: AsyncSession, profile_id: int) -> Profile | None:
    return (
        await session.scalars(select(Profile).where(col(Profile.id) == profile_id))
    ).one_or_none()


async def profiles_by_keys(
    session: AsyncSession, keys: list[directory.Key], *, limit: int = 2
) -> list[Profile]:
    """The profiles the directory lists for `keys` (at most `limit`, lowest id first), each
    read by its id: the person's shard on Citus, never a scan of every shard."""
    ids = await directory.profile_ids_for(session, keys, limit=limit)
    if len(ids) == 1:
        profile = await profile_by_id(session, ids[0])
        return [] if profile is None else [profile]
    if not ids:
        return []
    rows = await session.scalars(
        select(Profile).where(col(Profile.id).in_(ids)).order_by(col(Profile.id))
    )
    return list(rows.all())


async def new_profile(*, session: AsyncSession, vault: Vault) -> Profile:
    """A new, empty profile with its own data key (flushed: it has its id)."""
    profile = Profile()
    session.add(profile)
    await session.flush()
    assert profile.id is not None
    vault.new_profile(profile.id)
    return profile


def note_alias(session: AsyncSession, requested: str, profile: Profile | None) -> None:
    """Audit a merged-away id that reached its survivor, naming both ids."""
    if profile is not None and profile.public_id != requested:
        audit.record(
            session,
            action="profile.alias",
            profile_id=profile.id,
            detail={"requestedId": requested, "resolvedId": profile.public_id},
        )


async def find_profile(
    *,
    session: AsyncSession,
    vault: Vault,
    keys: ProfileKeys,
) -> Profile | None:
    """The one profile matched by exactly one lookup key (`app_id` narrows `open_id`)."""
    given = [
        k
        for k, v in (
            ("id", keys.public_id),
            ("unionId", keys.union_id),
            ("openId", keys.open_id),
            ("phone", keys.phone),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise bad_input("give exactly one of id, unionId, openId, phone")
    if keys.app_id is not None and keys.open_id is None:
        raise bad_input("appId narrows an openId lookup only", field="appId")
    if keys.public_id is not None:
        requested = keys.public_id.strip()
        found = await get_profile(session=session, public_id=requested)
        note_alias(session, requested, found)
        return found
    if keys.union_id is not None:
        bidx = vault.blind_index("union", clean_identifier(keys.union_id, field="unionId"))
        held = await profiles_by_keys(session, [(bidx, KeyKind.UNION_ID.value)])
        return held[0] if held else None
    if keys.open_id is None:
        return await find_by_phone(session=session, vault=vault, phone=keys.phone or "")
    bidx = vault.blind_index("open_id", clean_identifier(keys.open_id, field="openId"))
    if keys.app_id is not None:
        app_id = clean_identifier(keys.app_id, field="appId")
        rows = await profiles_by_keys(session, [directory.app_open_id_key(app_id, bidx)])
    else:
        rows = await profiles_by_keys(session, [(bidx, KeyKind.OPEN_ID.value)])
    if len(rows) > 1:
        raise conflict("the lookup matches more than one profile; narrow it (appId)")
    return rows[0] if rows else None


async def find_by_phone(*, session: AsyncSession, vault: Vault, phone: str) -> Profile | None:
    """The profile holding `phone` verified; else its one unverified claimant (its
    `phone_verified` says so); CONFLICT when several claim it and none verified it. An
    unverified claim never hides or stands in for the verified holder."""
    bidx = vault.blind_index("phone", normalize_phone(phone))
    verified = await profiles_by_keys(session, [(bidx, KeyKind.VERIFIED_PHONE.value)])
    if verified:
        return verified[0]
    rows = await profiles_by_keys(session, [(bidx, KeyKind.PHONE.value)])
    if len(rows) > 1:
        raise conflict(
            "several profiles claim this phone and none verified it; look up by another key",
            reason="PHONE_UNVERIFIED",
        )
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


def _claim_phone(vault: Vault, profile: Profile, phone: str | None) -> None:
    """A phone the customer typed is unverified, unless it is the one they hold verified."""
    if phone is None:
        profile.phone_verified, profile.phone_source = False, None
    elif not (profile.phone_verified and profile.phone_bidx == vault.blind_index("phone", phone)):
        profile.phone_verified, profile.phone_source = False, PhoneSource.SELF_ENTERED


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
    profile: Profile,
    phone: str | None = UNSET,
    name: str | None = UNSET,
    address: PostalAddress | None = UNSET,
    birthday: date | None = UNSET,
) -> Profile:
    """Validate and set the personal fields given (None clears one; UNSET leaves it).

    Every value is validated before any is written: a bad one changes nothing.
    """
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
    if "phone" in values:
        _claim_phone(vault, profile, values["phone"])
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
    if "birthday" in values:
        reevaluate(session, [profile.id])
    return profile
