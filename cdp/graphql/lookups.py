"""Finding the profile a mutation names, for resolvers of every domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import trail_of
from cdp.crypto import data_key_id_of
from cdp.erasure.models import SuppressionKind
from cdp.erasure.suppression import hash_of, refuse_if_suppressed
from cdp.errors import not_found
from cdp.graphql.context import Info
from cdp.keys.vault import Vault
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
