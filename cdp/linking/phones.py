"""Verified phones: a phone WeChat's phone authorisation or an SMS code vouched for, set on a
profile under the identity rules (one verified phone per profile; a phone verified by one
profile at most, unless merge by verified phone is on). Keyword-only, never commits.

A phone a customer types (`updateMyProfile`) is an unverified claim: it never merges, and a
lookup by phone passes it by for the verified holder (cdp.profiles.service.find_by_phone).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.config import Settings
from cdp.db import lock_names, utcnow
from cdp.errors import bad_input
from cdp.identity_rules import IdentifierType
from cdp.keys.vault import Vault
from cdp.linking.reviews import LimitBroken, open_review, refuse_beyond_limits
from cdp.linking.steps import MERGE_STEPS
from cdp.profiles import directory
from cdp.profiles.merge import merge_profiles
from cdp.profiles.models import VERIFIED_SOURCES, IdentityReview, PhoneSource, Profile
from cdp.profiles.personal import write_field
from cdp.profiles.values import normalize_phone
from cdp.suppression.models import SuppressionKind
from cdp.suppression.service import refuse_if_suppressed


@dataclass(frozen=True, slots=True)
class PhoneOutcome:
    """Where the verified phone now is; `review` when the identity rules kept a merge for
    compliance instead (then nothing was written and `profile` is the one asked about)."""

    profile: Profile
    merged_profile_ids: tuple[int, ...] = ()
    review: IdentityReview | None = None


@dataclass(frozen=True, slots=True)
class VerifiedPhone:
    """A phone in E.164 form and its blind index, checked against the identity rules."""

    e164: str
    bidx: bytes

    @classmethod
    def of(cls, vault: Vault, settings: Settings, phone: str) -> VerifiedPhone:
        e164 = normalize_phone(phone)
        if settings.identity_rules.is_blocked(IdentifierType.PHONE, e164):
            raise bad_input("phone is blocked by the identity rules", field="phone")
        return cls(e164, vault.blind_index("phone", e164))


async def verified_holder(*, session: AsyncSession, phone: VerifiedPhone) -> Profile | None:
    """The profile holding `phone` verified, read under the phone's lock (held to commit)."""
    await lock_names(session, [("phone", phone.bidx.hex())])
    holder = await directory.profile_ids_for(
        session, [(phone.bidx, directory.KeyKind.VERIFIED_PHONE.value)], limit=1
    )
    if not holder:
        return None
    return await session.scalar(
        sa.select(Profile)
        .where(col(Profile.id) == holder[0])
        .execution_options(populate_existing=True)
    )


async def set_verified_phone(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    profile: Profile,
    phone: str,
    source: PhoneSource,
) -> PhoneOutcome:
    """Set `phone` on `profile` as verified by `source` (WECHAT or SMS), replacing its phone.

    SUPPRESSED for an erased person's phone. Held verified by another profile: with the
    phone rule's `merge` on the two merge (the older survives) unless another limit breaks;
    otherwise, or when a limit breaks, nothing is written and the pair is kept for review
    (`PhoneOutcome.review`). Unverified claims of the phone elsewhere stay as they are.
    """
    if source not in VERIFIED_SOURCES:
        raise ValueError(f"{source} does not verify a phone")
    checked = VerifiedPhone.of(vault, settings, phone)
    await refuse_if_suppressed(session, [(SuppressionKind.PHONE, checked.bidx)])
    holder = await verified_holder(session=session, phone=checked)
    trail = audit.trail_of(session)
    mark = trail.mark()
    try:
        async with session.begin_nested():
            return await _set(session, vault, settings, profile, holder, checked, source)
    except LimitBroken as refused:
        trail.discard_after(mark)
        review = await open_review(
            session=session, refused=refused, profile=profile, via=f"phone.{source.value.lower()}"
        )
        return PhoneOutcome(profile=profile, review=review)


async def _set(
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    profile: Profile,
    holder: Profile | None,
    phone: VerifiedPhone,
    source: PhoneSource,
) -> PhoneOutcome:
    merged: tuple[int, ...] = ()
    if holder is not None and holder.id != profile.id:
        rules = settings.identity_rules
        if not rules.phone.merge:
            raise LimitBroken(
                rule=IdentifierType.PHONE, profile=profile, other=holder, detail={"phone": 2}
            )
        # With the phone, the profile would hold two verified phones if it has another.
        await refuse_beyond_limits(session=session, rules=rules, profile=profile, other=holder)
        pair = sorted((profile, holder), key=lambda p: p.id or 0)
        await lock_names(
            session, [("union", p.union_id_bidx.hex()) for p in pair if p.union_id_bidx]
        )
        await merge_profiles(
            session=session,
            vault=vault,
            settings=settings,
            survivor=pair[0],
            loser=pair[1],
            reason="verified_phone",
            steps=MERGE_STEPS,
        )
        profile, merged = pair[0], (pair[1].id or 0,)
    await write_field(
        session=session, vault=vault, profile=profile, field="phone", value=phone.e164
    )
    profile.phone_verified, profile.phone_source = True, source
    profile.updated_at = utcnow()
    session.add(profile)
    await session.flush()
    audit.record(
        session,
        action="phone.verify",
        profile_id=profile.id,
        fields=[{"field": "phone", "access": "write"}],
        detail={"source": source.value, "mergedProfiles": list(merged)},
    )
    return PhoneOutcome(profile=profile, merged_profile_ids=merged)
