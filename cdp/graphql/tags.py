"""Tags in GraphQL: a profile's `tags`, tagging mutations, and `profilesByTag` for services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from cdp.graphql.context import Info
from cdp.graphql.lookups import profile_by_id
from cdp.graphql.pages import DEFAULT_FIRST, PageInfo, check_first, decode_int, encode_cursor
from cdp.tags import service
from cdp.tags.models import ProfileTag, TagSource

if TYPE_CHECKING:
    from cdp.graphql.profiles import ProfileType

LazyProfile = Annotated["ProfileType", strawberry.lazy("cdp.graphql.profiles")]


@strawberry.type(name="Tag")
class TagType:
    name: str
    source: TagSource
    tagged_at: datetime


@strawberry.type
class TagPage:
    items: list[TagType]
    page_info: PageInfo


@strawberry.type
class ProfilePage:
    items: list[LazyProfile]
    page_info: PageInfo


async def tags_of(info: Info, profile_id: int, first: int, after: str | None) -> TagPage:
    check_first(first)
    skip = decode_int(info, after, "tags") or 0

    async def load(keys: Sequence[int]) -> list[list[ProfileTag]]:
        async with info.context.uow.session() as session:
            found = await service.tags_of(session=session, profile_ids=list(keys))
        return [found[key] for key in keys]

    rows: list[ProfileTag] = await info.context.loader("tags", load).load(profile_id)
    page = rows[skip : skip + first]
    return TagPage(
        items=[TagType(name=t.tag, source=t.source, tagged_at=t.tagged_at) for t in page],
        page_info=PageInfo(
            end_cursor=encode_cursor(info, "tags", skip + len(page)) if page else None,
            has_next_page=len(rows) > skip + first,
        ),
    )


@strawberry.input
class TagProfileInput:
    profile_id: strawberry.ID
    tag: str
    source: TagSource = TagSource.MANUAL


@strawberry.input
class UntagProfileInput:
    profile_id: strawberry.ID
    tag: str


@strawberry.type
class TagMutations:
    @strawberry.mutation(description="Tag a profile (tagging twice keeps the first tagging).")
    async def tag_profile(self, info: Info, input: TagProfileInput) -> LazyProfile | None:
        from cdp.graphql.profiles import ProfileType

        async with info.context.uow.atomic("tag.add") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            await service.tag_profile(
                session=session,
                actor=info.context.principal,
                profile=profile,
                tag=input.tag,
                source=input.source,
            )
        info.context.clear_loaders()
        return ProfileType(row=profile)

    @strawberry.mutation(description="Remove a tag from a profile.")
    async def untag_profile(self, info: Info, input: UntagProfileInput) -> LazyProfile | None:
        from cdp.graphql.profiles import ProfileType

        async with info.context.uow.atomic("tag.remove") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            await service.untag_profile(session=session, profile=profile, tag=input.tag)
        info.context.clear_loaders()
        return ProfileType(row=profile)


@strawberry.type
class TagQueries:
    @strawberry.field(description="Profiles carrying a tag, in a stable order.")
    async def profiles_by_tag(
        self, info: Info, tag: str, first: int = DEFAULT_FIRST, after: str | None = None
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
        page = rows[:first]
        info.context.uow.trail.record(
            action="profile.list", detail={"tag": tag, "returned": len(page)}
        )
        return ProfilePage(
            items=[ProfileType(row=row) for row in page],
            page_info=PageInfo(
                end_cursor=encode_cursor(info, "by-tag", page[-1].id) if page else None,
                has_next_page=len(rows) > first,
            ),
        )
