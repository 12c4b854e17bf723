"""Verified phones from a test: set one as WeChat or an SMS code would, and read a profile's
phone state back."""

from __future__ import annotations

from typing import Any

from cdp.config import Settings
from cdp.db import Database
from cdp.keys.vault import Vault
from cdp.linking.phones import PhoneOutcome, set_verified_phone
from cdp.profiles import service
from cdp.profiles.models import PhoneSource
from tests.conftest import audited

PHONE_STATE = "{ id phone phoneVerified phoneSource }"


async def verify(
    database: Database,
    vault: Vault,
    settings: Settings,
    public_id: str,
    phone: str,
    source: PhoneSource = PhoneSource.WECHAT,
) -> PhoneOutcome:
    """`set_verified_phone` on the profile `public_id`, committed."""
    async with audited(database) as session:
        profile = await service.writable_profile(session=session, public_id=public_id)
        assert profile is not None
        return await set_verified_phone(
            session=session,
            vault=vault,
            settings=settings,
            profile=profile,
            phone=phone,
            source=source,
        )


async def phone_state(database: Database, public_id: str) -> dict[str, Any]:
    """The profile's verification columns as stored (None: no such profile, merged away)."""
    async with database.transaction() as session:
        profile = await service.get_profile(session=session, public_id=public_id)
        if profile is None or profile.public_id != public_id:
            return {}
        return {
            "has_phone": profile.phone_bidx is not None,
            "verified": profile.phone_verified,
            "source": None if profile.phone_source is None else profile.phone_source.value,
        }
