"""Audiences in GraphQL: marketers define them and read their counts (k-anonymous, like the
analytics' cells); services list the members they may contact for a purpose and channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from cdp.audiences import service
from cdp.audiences.models import Audience
from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type
from cdp.graphql.pages import DEFAULT_FIRST, After, First, Page, check_first, decode_int, page_of

DEFINITION = (
    'The condition tree, e.g. {"all": [{"event": {"type": "article_read", "properties": '
    '{"category": "health"}, "atLeast": 3, "withinDays": 90}}, {"not": {"tier": {"in": '
    '["STANDARD"]}}}]} (README: "Audiences")'
)


@object_type(
    "AudienceCount",
    description="How many people: null and suppressed when fewer than minimumGroupSize.",
)
class AudienceCount:
    count: int | None = strawberry.field(description="People; null when suppressed.")
    suppressed: bool = strawberry.field(
        description="True when fewer than minimumGroupSize people are counted."
    )
    minimum_group_size: int = strawberry.field(description="Counts under this are suppressed.")

    @classmethod
    def of(cls, info: Info, people: int) -> AudienceCount:
        k = info.context.settings.analytics_min_group_size
        small = people < k
        return cls(count=None if small else people, suppressed=small, minimum_group_size=k)


@object_type("Audience", description="A named rule over behaviour; its members carry its tag.")
class AudienceType:
    name: str = strawberry.field(description="The audience, and the RULE tag its members carry.")
    description: str = strawberry.field(description="What it is for.")
    definition: JSON = strawberry.field(description="The condition tree it was defined with.")
    version: int = strawberry.field(description="How many times it was defined (1 at first).")
    created_by: str = strawberry.field(description="Who defined it first (their subject).")
    created_at: datetime = strawberry.field(description="When (UTC).")
    updated_at: datetime = strawberry.field(description="When it was last defined (UTC).")
    refreshed_at: datetime | None = strawberry.field(
        description="When its members were last computed in full (UTC)."
    )
    members: AudienceCount = strawberry.field(
        description="Its members as of the latest refresh and update."
    )

    @classmethod
    def of(cls, info: Info, row: Audience) -> AudienceType:
        return cls(
            name=row.name,
            description=row.description,
            definition=cast(JSON, row.definition),
            version=row.version,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            refreshed_at=row.refreshed_at,
            members=AudienceCount.of(info, row.member_count),
        )


@object_type("AudiencePage", description="One page of audiences, oldest first.")
class AudiencePage(Page[AudienceType]):
    pass


@object_type("AudienceMember", description="A member a service may contact.")
class AudienceMember:
    profile_id: strawberry.ID = strawberry.field(description="Profile.id.")
    since: datetime = strawberry.field(description="When they entered the audience (UTC).")


@object_type("AudienceMemberPage", description="One page of an audience's members.")
class AudienceMemberPage(Page[AudienceMember]):
    pass


@strawberry.input(description="An audience to create, or a new definition for one.")
class DefineAudienceInput:
    name: str = strawberry.field(description="The audience's name (its tag): one line of text.")
    definition: JSON = strawberry.field(description=DEFINITION)
    description: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.type
class AudienceQueries:
    @strawberry.field(description="Audiences and their counts, oldest first. Marketer role only.")
    async def audiences(
        self, info: Info, first: First = DEFAULT_FIRST, after: After = None
    ) -> AudiencePage | None:
        check_first(first)
        after_id = decode_int(info, after, "audiences")
        async with info.context.uow.session() as session:
            rows = await service.list_audiences(session=session, limit=first + 1, after=after_id)
        page, page_info = page_of(info, "audiences", rows, first, lambda row: (row.id,))
        info.context.uow.trail.record(action="audience.read", detail={"returned": len(page)})
        return AudiencePage(items=[AudienceType.of(info, r) for r in page], page_info=page_info)

    @strawberry.field(description="One audience by name; null if none. Marketer role only.")
    async def audience(
        self, info: Info, name: Annotated[str, strawberry.argument(description="Its name.")]
    ) -> AudienceType | None:
        async with info.context.uow.session() as session:
            row = await service.audience_named(session=session, name=name.strip())
        info.context.uow.trail.record(action="audience.read", detail={"returned": int(bool(row))})
        return None if row is None else AudienceType.of(info, row)

    @strawberry.field(
        description="How many people a definition holds for now, before saving it. "
        "Marketer role only."
    )
    async def audience_preview(
        self,
        info: Info,
        definition: Annotated[JSON, strawberry.argument(description=DEFINITION)],
    ) -> AudienceCount | None:
        async with info.context.uow.reading() as session:  # the replica while it keeps up
            people = await service.preview_count(
                session=session, settings=info.context.settings, definition=definition
            )
        return AudienceCount.of(info, people)

    @strawberry.field(
        description="The members of an audience the brand may contact now for a purpose in "
        "a channel (consent, frequency caps and erasure as canContact decides), by a stable "
        "order. Service role only."
    )
    async def audience_members(
        self,
        info: Info,
        audience: Annotated[str, strawberry.argument(description="The audience's name.")],
        purpose: Annotated[
            ConsentPurpose, strawberry.argument(description="What the contact would be for.")
        ],
        channel: Annotated[Channel, strawberry.argument(description="Where it would be sent.")],
        first: First = DEFAULT_FIRST,
        after: After = None,
    ) -> AudienceMemberPage | None:
        check_first(first)
        after_id = decode_int(info, after, "audience-members")
        async with info.context.uow.session() as session:
            rows = await service.contactable_members(
                session=session,
                name=audience,
                purpose=purpose,
                channel=channel,
                caps=info.context.settings.contact_caps,
                limit=first + 1,
                after=after_id,
            )
        page, page_info = page_of(info, "audience-members", rows, first, lambda m: (m.key,))
        return AudienceMemberPage(
            items=[
                AudienceMember(profile_id=strawberry.ID(m.public_id), since=m.since) for m in page
            ],
            page_info=page_info,
        )


@strawberry.type
class AudienceMutations:
    @strawberry.mutation(
        description="Create an audience or define it anew; its members are computed at once. "
        "Marketer role only."
    )
    async def define_audience(self, info: Info, input: DefineAudienceInput) -> AudienceType | None:
        async with info.context.uow.atomic("audience.define") as session:
            defined = await service.define_audience(
                session=session,
                actor=info.context.principal,
                settings=info.context.settings,
                name=input.name,
                definition=input.definition,
                description=input.description,
            )
        return AudienceType.of(info, defined.audience)
