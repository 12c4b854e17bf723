"""Finding profiles: the one a mutation names, for resolvers of every domain, and the
`profile(...)` lookup with its miss cap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import trail_of
from cdp.crypto import data_key_id_of
from cdp.db import utcnow
from cdp.erasure.models import SuppressionKind
from cdp.erasure.suppression import hash_of, refuse_if_suppressed
from cdp.errors import not_found
from cdp.graphql.context import Info
from cdp.keys.vault import Vault
from cdp.lookups.misses import LookupKey, MissCap, count_miss, refuse_if_capped
from cdp.policy import lookup_rule
from cdp.profiles import service
from cdp.profiles.models import Profile


async def profile_by_id(session: AsyncSession, vault: Vault, public_id: str) -> Profile:
    """The profile with this public id (following merges); SUPPRESSED when it was erased,
    NOT_FOUND otherwise."""
    public_id = public_id.strip()
    profile = await service.writable_profile(session=session, public_id=public_id)
    if profile is None:
        erased = hash_of(vault, SuppressionKind.PROFILE, public_id)
        await refuse_if_suppressed(session, [(SuppressionKind.PROFILE, erased)])
        raise not_found("No profile with this id")
    trail_of(session).target = profile.id  # a refused attempt is recorded against it
    return profile


async def key_for(info: Info, blob: bytes | None) -> None:
    """Have the data key of a sealed value unwrapped, batched with every other key the
    request's resolvers ask for at the same moment (one statement, not one per profile)."""
    await keys_for(info, [blob])


async def keys_for(info: Info, blobs: Sequence[bytes | None]) -> None:
    """`key_for` for many sealed values at once."""
    vault = info.context.vault
    ids = {data_key_id_of(blob) for blob in blobs if blob is not None} - vault.loaded_keys
    if not ids:
        return  # all unwrapped already: no loader round

    async def load(ids: Sequence[int]) -> list[None]:
        # From the key store: the request's session (and its lock) is not needed.
        await info.context.vault.load_keys(None, ids)
        return [None] * len(ids)

    await info.context.loader("data-keys", load).load_many(sorted(ids))


async def staff_lookup(
    info: Info,
    *,
    purpose: str,
    public_id: str | None,
    union_id: str | None,
    open_id: str | None,
    app_id: str | None,
    phone: str | None,
) -> Profile | None:
    """The `profile(...)` lookup: the role's miss cap first (cdp.policy.ROLE_LIMITS), then the
    lookup; a miss is counted and recorded with its key's kind and phone pattern, never the key."""
    context = info.context
    capped = lookup_rule(context.principal.role).misses_capped
    cap, actor, now = MissCap.of(context.settings), context.principal.subject, utcnow()
    async with context.uow.session() as session:
        key = LookupKey.of(
            context.vault.keyring,
            public_id=public_id,
            union_id=union_id,
            open_id=open_id,
            phone=phone,
        )
        if capped:
            await refuse_if_capped(
                session=session, cap=cap, actor=actor, key=key, purpose=purpose, now=now
            )
        row = await service.find_profile(
            session=session,
            vault=context.vault,
            public_id=public_id,
            union_id=union_id,
            open_id=open_id,
            app_id=app_id,
            phone=phone,
        )
        if row is not None:
            return row
        detail: dict[str, Any] = {**key.detail()}
        if capped:
            misses = await count_miss(
                session=session, cap=cap, actor=actor, key=key, purpose=purpose, now=now
            )
            detail["misses"] = misses
    context.uow.trail.record(
        action="profile.lookup", outcome="not_found", purpose=purpose, detail=detail
    )
    return None
