"""Compliance in GraphQL: the merges the identity rules refused (`identityReviews`) and their
resolution (`resolveIdentityReview`)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from cdp.graphql.context import Info
from cdp.graphql.erasure import PUBLIC_IDS
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import DEFAULT_FIRST, After, First, Page, id_page
from cdp.linking import reviews
from cdp.profiles.models import IdentityReview, ReviewDecision, ReviewStatus


@object_type(
    "IdentityReview",
    description="A merge the identity rules refused (it would break a limit), kept apart "
    "until compliance decides.",
)
class IdentityReviewType:
    id: strawberry.ID = strawberry.field(description="The review's public id.")
    profile_surrogate_id: int = strawberry.field(
        description="The internal surrogate id of the profile the link's OpenID is on."
    )
    other_profile_surrogate_id: int = strawberry.field(
        description="The internal surrogate id of the profile its UnionID leads to."
    )
    rule: str = strawberry.field(
        description="The identifier type whose limit broke first by priority (union_id, open_id)."
    )
    status: ReviewStatus = strawberry.field(description="Where the review stands.")
    detail: JSON = strawberry.field(
        description="How it arose (via) and each limit broken (app ids; never a value)."
    )
    created_at: datetime = strawberry.field(description="When the merge was refused (UTC).")
    resolved_at: datetime | None = strawberry.field(description="When it was decided (UTC).")
    resolved_by: str | None = strawberry.field(description="The deciding officer's subject.")
    reason: str | None = strawberry.field(description="Why, as the deciding officer said.")

    @classmethod
    def of(cls, row: IdentityReview) -> IdentityReviewType:
        return copied(
            cls,
            row,
            id=strawberry.ID(row.public_id),
            profile_surrogate_id=row.profile_id,
            other_profile_surrogate_id=row.other_profile_id,
        )

    @strawberry.field(description="The public id of the profile the link's OpenID is on.")
    async def profile_id(self, info: Info) -> strawberry.ID | None:
        found = await info.context.loader(PUBLIC_IDS).load(self.profile_surrogate_id)
        return None if found is None else strawberry.ID(found)

    @strawberry.field(description="The public id of the profile its UnionID leads to.")
    async def other_profile_id(self, info: Info) -> strawberry.ID | None:
        found = await info.context.loader(PUBLIC_IDS).load(self.other_profile_surrogate_id)
        return None if found is None else strawberry.ID(found)


@object_type("IdentityReviewPage", description="One page of identity reviews.")
class IdentityReviewPage(Page[IdentityReviewType]):
    pass


@strawberry.input(description="The review to decide, the decision, and why.")
class ResolveIdentityReviewInput:
    review_id: strawberry.ID = strawberry.field(description="IdentityReview.id.")
    decision: ReviewDecision = strawberry.field(
        description="MERGE the two profiles (the older survives) or KEEP_APART for good."
    )
    reason: str = strawberry.field(
        description=f"Why, 1-{reviews.REASON_MAX_LENGTH} characters, without personal data."
    )


@strawberry.type
class IdentityReviewQueries:
    @strawberry.field(
        description="Merges the identity rules refused, newest first. Compliance role only."
    )
    async def identity_reviews(
        self,
        info: Info,
        status: Annotated[
            ReviewStatus | None,
            strawberry.argument(description="Only reviews in this status; null: all."),
        ] = None,
        first: First = DEFAULT_FIRST,
        after: After = None,
    ) -> IdentityReviewPage | None:
        listed = partial(reviews.list_reviews, status=status)
        page, page_info = await id_page(info, "identity-reviews", first, after, listed)
        info.context.uow.trail.record(action="identity.review_list", detail={"returned": len(page)})
        return IdentityReviewPage(
            items=[IdentityReviewType.of(row) for row in page], page_info=page_info
        )


@strawberry.type
class IdentityReviewMutations:
    @strawberry.mutation(
        description="Decide a refused merge: MERGE (beyond the limit) or KEEP_APART. "
        "Compliance role only."
    )
    async def resolve_identity_review(
        self, info: Info, input: ResolveIdentityReviewInput
    ) -> IdentityReviewType | None:
        async with info.context.uow.atomic("identity.review_resolve") as session:
            review = await reviews.resolve_review(
                session=session,
                vault=info.context.vault,
                settings=info.context.settings,
                actor=info.context.principal,
                review_id=str(input.review_id),
                decision=input.decision,
                reason=input.reason,
            )
        if input.decision is ReviewDecision.MERGE:
            info.context.clear_loaders()
        return IdentityReviewType.of(review)
