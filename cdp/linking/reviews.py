"""The identity rules at a merge: refusing one that breaks a limit, the review list that keeps
it for compliance, and its resolution. Keyword-only functions that take the session and never
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.config import Settings
from cdp.db import lock_names, utcnow
from cdp.errors import CdpError, ErrorCode, bad_input, conflict, not_found
from cdp.identity_rules import IdentifierType, IdentityRules
from cdp.keys.vault import Vault
from cdp.linking.steps import MERGE_STEPS
from cdp.profiles.merge import merge_profiles
from cdp.profiles.models import (
    Identity,
    IdentityReview,
    Profile,
    ReviewDecision,
    ReviewStatus,
)
from cdp.text import clean_text

REASON_MAX_LENGTH = 200
REVIEW_ID_MAX_LENGTH = 36  # a UUID


class LimitBroken(CdpError):
    """A link that would break a limit, refused before it wrote anything: `profile` is where
    its OpenID is (None: nowhere yet), `other` where its UnionID leads."""

    def __init__(
        self,
        *,
        rule: IdentifierType,
        profile: Profile | None,
        other: Profile,
        detail: dict[str, Any],
    ) -> None:
        super().__init__(
            ErrorCode.CONFLICT, f"the link would break the identity rules' {rule.value} limit"
        )
        self.rule = rule
        self.profile = profile
        self.other = other
        self.detail = detail


class ReviewPending(CdpError):
    """CONFLICT naming the review that keeps a refused merge (`extensions.reviewId`)."""

    def __init__(self, review: IdentityReview) -> None:
        super().__init__(
            ErrorCode.CONFLICT,
            f"the merge would break the identity rules' {review.rule} limit; "
            f"kept for review {review.public_id}",
            reason="IDENTITY_REVIEW",
        )
        self.review_id = review.public_id

    def extensions(self) -> dict[str, str]:
        return {**super().extensions(), "reviewId": self.review_id}


async def refuse_beyond_limits(
    *, session: AsyncSession, rules: IdentityRules, profile: Profile, other: Profile
) -> None:
    """LimitBroken when one profile holding both profiles' identifiers breaks a limit (the
    first broken by priority is named; the detail lists each, with app ids, no values)."""
    broken: dict[IdentifierType, Any] = {}
    if profile.union_id_bidx is not None and other.union_id_bidx is not None:
        broken[IdentifierType.UNION_ID] = 2
    if profile.phone_verified and other.phone_verified and profile.phone_bidx != other.phone_bidx:
        broken[IdentifierType.PHONE] = 2  # one verified phone per profile
    apps = await _apps_beyond(session, [profile.id or 0, other.id or 0], rules.open_id.limit)
    if apps:
        broken[IdentifierType.OPEN_ID] = apps
    if broken:
        first = next(kind for kind in rules.by_priority() if kind in broken)
        detail = {kind.value: broken[kind] for kind in rules.by_priority() if kind in broken}
        raise LimitBroken(rule=first, profile=profile, other=other, detail=detail)


async def refuse_attach_beyond_limit(
    *, session: AsyncSession, rules: IdentityRules, other: Profile, app_id: str
) -> None:
    """LimitBroken when a new OpenID of `app_id` would give `other` more than the limit."""
    held = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Identity)
        .where(col(Identity.profile_id) == other.id, col(Identity.app_id) == app_id)
    )
    if int(held or 0) >= rules.open_id.limit:
        raise LimitBroken(
            rule=IdentifierType.OPEN_ID, profile=None, other=other, detail={"open_id": [app_id]}
        )


async def _apps_beyond(session: AsyncSession, profile_ids: list[int], limit: int) -> list[str]:
    rows = await session.scalars(
        sa.select(col(Identity.app_id))
        .where(col(Identity.profile_id).in_(profile_ids))
        .group_by(col(Identity.app_id))
        .having(sa.func.count() > limit)
        .order_by(col(Identity.app_id))
    )
    return list(rows)


async def open_review(
    *, session: AsyncSession, refused: LimitBroken, profile: Profile, via: str
) -> IdentityReview:
    """The review of this refused merge: the pair's open (or kept-apart) one if there is one,
    else a new one, audited."""
    assert profile.id is not None and refused.other.id is not None
    pair = (profile.id, refused.other.id)
    existing = await session.scalar(
        sa.select(IdentityReview)
        .where(
            sa.or_(
                sa.and_(
                    col(IdentityReview.profile_id) == pair[0],
                    col(IdentityReview.other_profile_id) == pair[1],
                ),
                sa.and_(
                    col(IdentityReview.profile_id) == pair[1],
                    col(IdentityReview.other_profile_id) == pair[0],
                ),
            ),
            col(IdentityReview.status) != ReviewStatus.MERGED,
        )
        .order_by(col(IdentityReview.id))
        .limit(1)
    )
    review = existing or IdentityReview(
        profile_id=pair[0],
        other_profile_id=pair[1],
        rule=refused.rule.value,
        detail={"via": via, "broken": refused.detail},
    )
    if existing is None:
        session.add(review)
        await session.flush()
    audit.record(
        session,
        action="identity.review",
        profile_id=pair[0],
        outcome="ok" if existing is None else "replayed",
        detail={"review": review.public_id, "otherProfile": pair[1], "rule": review.rule},
    )
    return review


async def list_reviews(
    *, session: AsyncSession, status: ReviewStatus | None, limit: int, before: int | None
) -> Sequence[IdentityReview]:
    """Newest first, below the id `before` (None: from the newest)."""
    query = sa.select(IdentityReview).order_by(col(IdentityReview.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(IdentityReview.status) == status)
    if before is not None:
        query = query.where(col(IdentityReview.id) < before)
    return (await session.scalars(query)).all()


async def resolve_review(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Principal,
    review_id: str,
    decision: ReviewDecision,
    reason: str,
) -> IdentityReview:
    """Merge the review's two profiles (the older survives, beyond the limit) or keep them
    apart for good; NOT_FOUND for no such review, CONFLICT for one already decided."""
    reason = clean_text(reason, field="reason", max_length=REASON_MAX_LENGTH)
    review_id = clean_text(review_id, field="reviewId", max_length=REVIEW_ID_MAX_LENGTH)
    review = await session.scalar(
        sa.select(IdentityReview)
        .where(col(IdentityReview.public_id) == review_id)
        .execution_options(populate_existing=True)
    )
    if review is None:
        raise not_found("No identity review with this id")
    audit.set_target(session, review.profile_id)
    if review.status is not ReviewStatus.OPEN:
        raise conflict(f"the review was decided already ({review.status.value})")
    if decision is ReviewDecision.MERGE:
        await _merge_pair(session, vault, settings, review)
        await session.refresh(review)  # the merge step moved it to the survivor
    review.status = (
        ReviewStatus.MERGED if decision is ReviewDecision.MERGE else ReviewStatus.KEPT_APART
    )
    review.resolved_at = utcnow()
    review.resolved_by = actor.subject
    review.reason = reason
    session.add(review)
    await session.flush()
    audit.record(
        session,
        action="identity.review_resolve",
        profile_id=review.profile_id,
        detail={"review": review.public_id, "decision": decision.value},
    )
    return review


async def _merge_pair(
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    review: IdentityReview,
) -> None:
    pair = [await session.get(Profile, pid) for pid in (review.profile_id, review.other_profile_id)]
    profiles = sorted((p for p in pair if p is not None), key=lambda p: p.id or 0)
    if len(profiles) != 2 or profiles[0].id == profiles[1].id:
        raise bad_input("the review's profiles are no longer two", field="reviewId")
    await lock_names(
        session,
        [("union", p.union_id_bidx.hex()) for p in profiles if p.union_id_bidx is not None],
    )
    await merge_profiles(
        session=session,
        vault=vault,
        settings=settings,
        survivor=profiles[0],
        loser=profiles[1],
        reason="review",
        steps=MERGE_STEPS,
    )
