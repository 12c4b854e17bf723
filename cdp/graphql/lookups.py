"""Finding the profile a mutation names, for resolvers of every domain."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import trail_of
from cdp.errors import not_found
from cdp.profiles import service
from cdp.profiles.models import Profile


async def profile_by_id(session: AsyncSession, public_id: str) -> Profile:
    """The profile with this public id (following merges); NOT_FOUND otherwise."""
    profile = await service.get_profile(session=session, public_id=public_id.strip())
    if profile is None:
        raise not_found("No profile with this id")
    trail_of(session).target = profile.id  # a refused attempt is recorded against it
    return profile
