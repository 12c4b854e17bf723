"""`me` and `profile(...)`: the queries that find one profile, and the stated purpose a
staff lookup (or an erasure) must give."""

from __future__ import annotations

from typing import Annotated

import strawberry

from cdp.graphql.context import Info
from cdp.graphql.lookups import staff_lookup
from cdp.graphql.profiles import ProfileType, own_profile
from cdp.graphql.sealed import prefetch_keys
from cdp.profiles.values import ProfileKeys
from cdp.text import clean_text

PURPOSE_MAX_LENGTH = 200


def check_purpose(purpose: str, *, field: str = "purpose") -> str:
    """A stated purpose (kept in the audit log): one line of 1-200 characters."""
    return clean_text(purpose, field=field, max_length=PURPOSE_MAX_LENGTH)


@strawberry.type
class ProfileQueries:
    @strawberry.field(description="The signed-in customer's own profile. Customer role only.")
    async def me(self, info: Info) -> ProfileType | None:
        row = await own_profile(info)
        assert row.id is not None
        info.context.uow.trail.lookup(row.id, None)
        await prefetch_keys(info, row)
        return ProfileType(row=row)

    @strawberry.field(
        description="Look up one profile by exactly one key (id, unionId, openId or phone), "
        "for a stated purpose; null when nobody matches. Support, compliance and service; "
        "support and compliance one lookup per operation, misses capped."
    )
    async def profile(
        self,
        info: Info,
        purpose: Annotated[
            str,
            strawberry.argument(
                description=f"Why, 1-{PURPOSE_MAX_LENGTH} characters (kept in the audit log)."
            ),
        ],
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The public profile id.")
        ] = None,
        union_id: Annotated[
            str | None, strawberry.argument(description="The WeChat UnionID.")
        ] = None,
        open_id: Annotated[
            str | None, strawberry.argument(description="An OpenID of one of the brand's apps.")
        ] = None,
        app_id: Annotated[
            str | None,
            strawberry.argument(description="With openId: the app it belongs to (optional)."),
        ] = None,
        phone: Annotated[
            str | None,
            strawberry.argument(description="A phone number in any common form (138 1234 5678)."),
        ] = None,
    ) -> ProfileType | None:
        purpose = check_purpose(purpose)
        keys = ProfileKeys(
            public_id=id, union_id=union_id, open_id=open_id, app_id=app_id, phone=phone
        )
        row = await staff_lookup(info, purpose=purpose, keys=keys)
        if row is None:
            return None
        trail = info.context.uow.trail
        assert row.id is not None
        trail.lookup(row.id, purpose)
        await prefetch_keys(info, row)
        return ProfileType(row=row)
