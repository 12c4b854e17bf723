"""Finding the profile a mutation names, for resolvers of every domain."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import trail_of
from cdp.erasure.models import SuppressionKind
from cdp.erasure.suppression import hash_of, refuse_if_suppressed
from cdp.errors import not_found
from cdp.keys.vault import Vault
from cdp.profiles import service
from cdp.profiles.models import Profile


async def profile_by_id(session: AsyncSession, vault: Vault, public_id: str) -> Profile:
    """The profile with this public id (following merges); SUPPRESSED when it was erased,
    NOT_FOUND otherwise."""
    public_id = public_id.strip()
    profile = await service.get_profile(session=session, public_id=public_id)
    if profile is None:
        erased = hash_of(vault, SuppressionKind.PROFILE, public_id)
        await refuse_if_suppressed(session, [(SuppressionKind.PROFILE, erased)])
        raise not_found("No profile with this id")
    trail_of(session).target = profile.id  # a refused attempt is recorded against it
    return profile
