"""Tags in GraphQL: a profile's `tags`, tagging mutations, and `profilesByTag` for services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.graphql.context import Info, by_key
from cdp.graphql.lookups import profile_write
from cdp.graphql.objects import object_type
from cdp.graphql.pages import DEFAULT_FIRST, After, First, Page, check_first, decode_int, page_of
from cdp.tags import service
from cdp.tags.models import ProfileTag, TagSource

if TYPE_CHECKING:
    from cdp.graphql.profiles import ProfileType

LazyProfile = Annotated["ProfileType", strawberry.lazy("cdp.graphql.profiles")]


@object_type("Tag", description="A label on a person, e.g. 咖啡爱好者.")
class TagType:
    name: str = strawberry.field(description="The tag.")
    source: TagSource = strawberry.field(description="Who gave it.")
    tagged_at: datetime = strawberry.field(description="When it was given (UTC).")


@object_type("TagPage", description="One page of a person's tags.")
class TagPage(Page[TagType]):
    pass


@object_type("ProfilePage", description="One page of profiles.")
class ProfilePage(Page[LazyProfile]):
    pass


async def _tags(session: AsyncSession, keys: list[int]) -> Mapping[int, list[ProfileTag]]:
    return await service.tags_of(session=session, profile_ids=keys)


TAGS = by_key("tags", _tags)


async def tags_of(info: Info, profile_id: int, first: int, after: str | None) -> TagPage:
    check_first(first)
    skip = decode_int(info, after, "tags") or 0
    rows = await info.context.loader(TAGS).load(profile_id)
    end = min(len(rows), skip + first)  # the cursor is an offset: where the next page starts
    page, page_info = page_of(info, "tags", rows[skip:], first, lambda _: (end,))
    return TagPage(
        items=[TagType(name=t.tag, source=t.source, tagged_at=t.tagged_at) for t in page],
        page_info=page_info,
    )


@strawberry.input(description="A tag to give a person.")
class TagProfileInput:
    profile_id: strawberry.ID = strawberry.field(description="The public profile id.")
    tag: str = strawberry.field(description="The tag: one line of text.")
    source: TagSource = strawberry.field(default=TagSource.MANUAL, description="Who gives it.")


@strawberry.input(description="A tag to take from a person.")
class UntagProfileInput:
    profile_id: strawberry.ID = strawberry.field(description="The public profile id.")
    tag: str = strawberry.field(description="The tag.")


@strawberry.type
class TagMutations:
    @strawberry.mutation(
        description="Tag a profile (tagging twice keeps the first tagging). Service role only."
    )
    async def tag_profile(self, info: Info, input: TagProfileInput) -> LazyProfile | None:
        from cdp.graphql.profiles import ProfileType

        async with profile_write(info, "tag.add", input.profile_id) as (session, profile):
            await service.tag_profile(
                session=session,
                actor=info.context.principal,
                profile=profile,
                tag=input.tag,
                source=input.source,
            )
        info.context.clear_loaders()
        return ProfileType(row=profile)

    @strawberry.mutation(description="Remove a tag from a profile. Service role only.")
    async def untag_profile(self, info: Info, input: UntagProfileInput) -> LazyProfile | None:
        from cdp.graphql.profiles import ProfileType

        async with profile_write(info, "tag.remove", input.profile_id) as (session, profile):
            await service.untag_profile(session=session, profile=profile, tag=input.tag)
        info.context.clear_loaders()
        return ProfileType(row=profile)


@strawberry.type
class TagQueries:
    @strawberry.field(description="Profiles carrying a tag, in a stable order. Service role only.")
    async def profiles_by_tag(
        self,
        info: Info,
        tag: Annotated[str, strawberry.argument(description="The tag.")],
        first: First = DEFAULT_FIRST,
        after: After = None,
    ) -> ProfilePage | None:
        from cdp.graphql.profiles import ProfileType

        check_first(first)
        tag = service.clean_tag(tag)
        after_id = decode_int(info, after, "by-tag")
        async with info.context.uow.session() as session:
            rows = await service.profiles_with_tag(
                session=session,
                tag=tag,
                limit=first + 1,
                after_profile_id=after_id,
            )
        page, page_info = page_of(info, "by-tag", rows, first)
        info.context.uow.trail.record(
            action="profile.list", detail={"tag": tag, "returned": len(page)}
        )
        return ProfilePage(items=[ProfileType(row=row) for row in page], page_info=page_info)
