"""Finding profiles: the one a mutation names, for resolvers of every domain, and the
`profile(...)` lookup with its miss cap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.crypto import data_key_id_of
from cdp.db import utcnow
from cdp.graphql.context import BatchLoad, Context, Info
from cdp.keys.vault import Vault
from cdp.lookups.misses import (
    LookupAttempt,
    LookupKey,
    MissCap,
    count_miss,
    refuse_if_capped,
)
from cdp.policy import lookup_rule
from cdp.profiles import service
from cdp.profiles.models import Profile
from cdp.profiles.values import ProfileKeys


async def profile_by_id(session: AsyncSession, vault: Vault, public_id: str) -> Profile:
    """The profile a mutation's input names (cdp.profiles.service.target_profile)."""
    return await service.target_profile(session=session, vault=vault, public_id=public_id)


@asynccontextmanager
async def profile_write(
    info: Info, action: str, public_id: str
) -> AsyncIterator[tuple[AsyncSession, Profile]]:
    """A mutation's unit of work (audited as `action`) and the profile its input names."""
    async with info.context.uow.atomic(action) as session:
        yield session, await profile_by_id(session, info.context.vault, public_id)


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

    await info.context.loader(DATA_KEYS).load_many(sorted(ids))


async def _unwrap(context: Context, ids: Sequence[int]) -> list[None]:
    # From the key store: the request's session (and its lock) is not needed.
    await context.vault.load_keys(None, ids)
    return [None] * len(ids)


DATA_KEYS: BatchLoad[int, None] = BatchLoad("data-keys", _unwrap)


async def staff_lookup(info: Info, *, purpose: str, keys: ProfileKeys) -> Profile | None:
    """The `profile(...)` lookup: the role's miss cap first (cdp.policy.ROLE_LIMITS), then the
    lookup; a miss is counted and recorded with its key's kind and phone pattern, never the key."""
    context = info.context
    capped = lookup_rule(context.principal.role).misses_capped
    cap, actor, now = MissCap.of(context.settings), context.principal.subject, utcnow()
    async with context.uow.session() as session:
        key = LookupKey.of(context.vault.keyring, keys)
        attempt = LookupAttempt(actor, key, purpose, now)
        if capped:
            await refuse_if_capped(session=session, cap=cap, attempt=attempt)
        row = await service.find_profile(session=session, vault=context.vault, keys=keys)
        if row is not None:
            return row
        detail: dict[str, Any] = {**key.detail()}
        if capped:
            misses = await count_miss(session=session, cap=cap, attempt=attempt)
            detail["misses"] = misses
    context.uow.trail.record(
        action="profile.lookup", outcome="not_found", purpose=purpose, detail=detail
    )
    return None
