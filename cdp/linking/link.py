"""`link_identity`: attach an app identity to its person, creating, upgrading or merging
profiles. Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from cdp.audit import trail as audit
from cdp.channels import APP_CHANNELS, Channel
from cdp.config import Settings
from cdp.db import lock_names, lock_profiles, utcnow
from cdp.errors import bad_input, conflict
from cdp.identity_rules import IdentifierType, IdentityRules
from cdp.keys.vault import Vault
from cdp.linking.reviews import refuse_attach_beyond_limit, refuse_beyond_limits
from cdp.linking.steps import MERGE_STEPS
from cdp.profiles import directory
from cdp.profiles.merge import merge_profiles
from cdp.profiles.models import Identity, Profile
from cdp.profiles.personal import seal_open_id, write_field
from cdp.profiles.values import clean_identifier, optional_identifier
from cdp.reevaluation import note as reevaluate
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import refuse_if_suppressed, refuse_if_under_erasure


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    profile: Profile
    created_profile: bool
    created_identity: bool
    merged_profile_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Key:
    """The identity being linked, cleaned, with its blind indexes."""

    channel: Channel
    app_id: str
    open_id: str
    union_id: str | None
    open_bidx: bytes
    union_bidx: bytes | None

    @classmethod
    def of(
        cls,
        vault: Vault,
        rules: IdentityRules,
        channel: Channel,
        app_id: str,
        open_id: str,
        union_id: str | None,
    ) -> _Key:
        if channel not in APP_CHANNELS:
            raise bad_input(f"{channel.value} is not an app channel", field="channel")
        app_id = clean_identifier(app_id, field="appId")
        open_id = clean_identifier(open_id, field="openId")
        union_id = optional_identifier(union_id, field="unionId")
        if rules.is_blocked(IdentifierType.OPEN_ID, open_id):
            raise bad_input("openId is blocked by the identity rules", field="openId")
        if union_id is not None and rules.is_blocked(IdentifierType.UNION_ID, union_id):
            raise bad_input("unionId is blocked by the identity rules", field="unionId")
        return cls(
            channel=channel,
            app_id=app_id,
            open_id=open_id,
            union_id=union_id,
            open_bidx=vault.blind_index("open_id", open_id),
            union_bidx=vault.blind_index("union", union_id) if union_id else None,
        )


async def link_identity(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    channel: Channel,
    app_id: str,
    open_id: str,
    union_id: str | None = None,
    now: datetime | None = None,
) -> LinkOutcome:
    """Attach an app identity to its person, creating, upgrading or merging profiles.

    First sight creates a profile; a known UnionID attaches the OpenID to its profile; an
    OpenID-only profile gains the UnionID when it arrives; a UnionID that shows two profiles
    are one person merges them into the older one. A merge or an OpenID that would break
    the identity rules' limits is refused before anything is written (LimitBroken).
    """
    rules = settings.identity_rules
    key = _Key.of(vault, rules, channel, app_id, open_id, union_id)
    identity, by_open, by_union = await _hold(session, key)
    now = now or utcnow()  # a past `now` imports history: when the identity was first seen
    merged: tuple[int, ...] = ()
    created_profile = False
    if by_open is not None and by_union is not None and by_open.id != by_union.id:
        await refuse_beyond_limits(session=session, rules=rules, profile=by_open, other=by_union)
    elif identity is None and by_union is not None:
        await refuse_attach_beyond_limit(
            session=session, rules=rules, other=by_union, app_id=key.app_id
        )
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
            steps=MERGE_STEPS,
        )
        profile = survivor
    elif by_open is not None or by_union is not None:
        profile = by_open or by_union  # type: ignore[assignment]
    else:
        profile = await _new_profile(session, vault, now)
        created_profile = True

    if key.union_id and profile.union_id_bidx != key.union_bidx:
        await write_field(
            session=session, vault=vault, profile=profile, field="union_id", value=key.union_id
        )
        profile.updated_at = now
    created_identity = identity is None
    await _attach(session, vault, key, identity, profile, now)
    audit.record(
        session,
        action="identity.link",
        profile_id=profile.id,
        detail={
            "channel": channel.value,
            "appId": key.app_id,
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


async def _hold(
    session: AsyncSession, key: _Key
) -> tuple[Identity | None, Profile | None, Profile | None]:
    """Refuse a suppressed identity, lock its names and the profiles it leads to, and refuse
    a link that contradicts what is known; the identity and the profiles, read under the locks."""
    await refuse_if_suppressed(
        session,
        [(SuppressionKind.OPEN_ID, key.open_bidx)]
        + ([(SuppressionKind.UNION_ID, key.union_bidx)] if key.union_bidx is not None else []),
    )
    names: list[tuple[str, ...]] = [("identity", key.app_id, key.open_bidx.hex())]
    if key.union_bidx is not None:
        names.append(("union", key.union_bidx.hex()))
    await lock_names(session, names)
    identity, by_open, by_union = await _linked(session, key)
    held = {p.id for p in (by_open, by_union) if p is not None and p.id is not None}
    # Hold the profiles we write to; a merge that folded one away meanwhile shows on a
    # second look.
    if held and await lock_profiles(session, held, exclusive=False):
        identity, by_open, by_union = await _linked(session, key)
    for profile_id in held:
        await refuse_if_under_erasure(session, profile_id)
    if identity is not None and identity.channel is not key.channel:
        raise conflict(f"appId is registered as {identity.channel.value}, not {key.channel.value}")
    if (
        by_open is not None
        and by_union is None  # else two profiles: the identity rules' union limit decides
        and key.union_bidx
        and by_open.union_id_bidx not in (None, key.union_bidx)
    ):
        raise conflict("this OpenID already belongs to a different UnionID")
    return identity, by_open, by_union


async def _new_profile(session: AsyncSession, vault: Vault, now: datetime) -> Profile:
    profile = Profile(created_at=now, updated_at=now)
    session.add(profile)
    await session.flush()
    assert profile.id is not None
    vault.new_profile(profile.id)
    return profile


async def _attach(
    session: AsyncSession,
    vault: Vault,
    key: _Key,
    identity: Identity | None,
    profile: Profile,
    now: datetime,
) -> None:
    """The identity on its profile: created at first sight, else seen again."""
    if identity is None:
        assert profile.id is not None
        identity = Identity(
            profile_id=profile.id,
            channel=key.channel,
            app_id=key.app_id,
            open_id_bidx=key.open_bidx,
            linked_at=now,
            last_seen_at=now,
        )
        await seal_open_id(session=session, vault=vault, identity=identity, open_id=key.open_id)
        session.add(identity)
    else:
        identity.last_seen_at = now
    await session.flush()
    reevaluate(session, [profile.id])


async def _linked(
    session: AsyncSession, key: _Key
) -> tuple[Identity | None, Profile | None, Profile | None]:
    """The identity (app id, OpenID) and the profiles its OpenID and the UnionID lead to."""
    # Each found through the directory, then on the person's shard (router queries on Citus).
    identity = None
    holder = await directory.profile_ids_for(
        session, [directory.app_open_id_key(key.app_id, key.open_bidx)], limit=1
    )
    if holder:
        identity = await session.scalar(
            _IDENTITY_BY_KEY, {"profile_id": holder[0], "app_id": key.app_id, "bidx": key.open_bidx}
        )
    by_open = (
        await session.get(Profile, identity.profile_id, populate_existing=True)
        if identity
        else None
    )
    by_union = None
    if key.union_bidx is not None:
        owner = await directory.profile_ids_for(
            session, [(key.union_bidx, directory.KeyKind.UNION_ID.value)], limit=1
        )
        if owner:
            by_union = await session.scalar(_PROFILE_BY_ID, {"id": owner[0]})
    return identity, by_open, by_union


# Built once: every link runs them, and building a statement costs about what running it does.
_IDENTITY_BY_KEY = (
    select(Identity)
    .where(
        col(Identity.profile_id) == sa.bindparam("profile_id"),
        col(Identity.app_id) == sa.bindparam("app_id"),
        col(Identity.open_id_bidx) == sa.bindparam("bidx"),
    )
    .execution_options(populate_existing=True)
)
_PROFILE_BY_ID = (
    select(Profile)
    .where(col(Profile.id) == sa.bindparam("id"))
    .execution_options(populate_existing=True)
)
