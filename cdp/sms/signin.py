"""From a phone an SMS code proved to a customer session: the profile holding the phone
verified, or a new one that then holds it (source SMS); audited, a short-lived customer token.
Unverified claims of the phone elsewhere are left alone: they never merge.

Keyword-only; never commits.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit import trail as audit
from cdp.auth import Principal, Role
from cdp.config import Settings
from cdp.errors import conflict
from cdp.keys.vault import Vault
from cdp.linking.phones import VerifiedPhone, set_verified_phone, verified_holder
from cdp.profiles.models import PhoneSource
from cdp.profiles.service import new_profile
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import refuse_if_suppressed
from cdp.wechat.signin import CustomerSession, customer_token, session_ttl

SIGN_IN_ACTION = "auth.sms"


async def sign_in_by_phone(
    *, session: AsyncSession, vault: Vault, settings: Settings, phone: str
) -> CustomerSession:
    """Sign in the holder of `phone` (just proved by an SMS code); SUPPRESSED for an erased
    person's phone."""
    checked = VerifiedPhone.of(vault, settings, phone)
    await refuse_if_suppressed(session, [(SuppressionKind.PHONE, checked.bidx)])
    holder = await verified_holder(session=session, phone=checked)
    profile = holder or await new_profile(session=session, vault=vault)
    outcome = await set_verified_phone(
        session=session,
        vault=vault,
        settings=settings,
        profile=profile,
        phone=checked.e164,
        source=PhoneSource.SMS,
    )
    if outcome.review is not None:  # not reached: the holder is the profile signed in
        raise conflict("the phone is kept for review", reason="IDENTITY_REVIEW")
    profile = outcome.profile
    audit.trail_of(session).continue_as(Principal(subject=profile.public_id, role=Role.CUSTOMER))
    audit.record(
        session,
        action=SIGN_IN_ACTION,
        profile_id=profile.id,
        detail={"createdProfile": holder is None, "ttlSeconds": session_ttl(settings)},
    )
    return CustomerSession(
        profile_id=profile.public_id,
        token=customer_token(settings, profile.public_id),
        expires_in=session_ttl(settings),
        created_profile=holder is None,
    )
