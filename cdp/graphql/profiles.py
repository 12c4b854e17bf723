"""Profile, Identity and Address types; the `me` and `profile` lookups; `linkIdentity`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from cdp.channels import Channel
from cdp.errors import bad_input, not_found
from cdp.graphql.context import Info
from cdp.profiles import service
from cdp.profiles.models import Identity as IdentityRow
from cdp.profiles.models import Profile as ProfileRow
from cdp.profiles.models import Tier
from cdp.profiles.values import PostalAddress

strawberry.enum(Channel, name="Channel", description="Where a person shows up.")
strawberry.enum(Tier, name="Tier", description="Membership tier from paid spend.")

PURPOSE_MAX_LENGTH = 200


@strawberry.type(name="Address", description="A postal address; masked parts are null.")
class AddressType:
    province: str | None
    city: str | None
    district: str | None
    street: str | None


@strawberry.type(name="Identity", description="One app's OpenID for this person.")
class IdentityType:
    row: strawberry.Private[IdentityRow]

    @strawberry.field
    def channel(self) -> Channel:
        return self.row.channel

    @strawberry.field
    def app_id(self) -> str:
        return self.row.app_id

    @strawberry.field
    def open_id(self) -> str:
        return self.row.open_id

    @strawberry.field
    def linked_at(self) -> datetime:
        return self.row.linked_at


async def _load_identities(info: Info, profile_id: int) -> list[IdentityRow]:
    async def load(keys: Sequence[int]) -> list[list[IdentityRow]]:
        async with info.context.uow.session() as session:
            grouped = await service.identities_of(session=session, profile_ids=list(keys))
        return [grouped[key] for key in keys]

    return await info.context.loader("identities", load).load(profile_id)  # type: ignore[no-any-return]


@strawberry.type(name="Profile", description="One person across every app of the brand.")
class ProfileType:
    row: strawberry.Private[ProfileRow]

    @strawberry.field(description="The public profile id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.public_id)

    @strawberry.field
    def tier(self) -> Tier:
        return self.row.tier

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="The WeChat UnionID that ties the brand's apps together.")
    def union_id(self) -> str | None:
        return self.row.union_id

    @strawberry.field(description="The person's OpenID in each app, oldest first.")
    async def identities(self, info: Info) -> list[IdentityType] | None:
        assert self.row.id is not None
        return [IdentityType(row=row) for row in await _load_identities(info, self.row.id)]

    @strawberry.field(description="E.164 phone number.")
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field
    def name(self) -> str | None:
        return self.row.name

    @strawberry.field
    def address(self) -> AddressType | None:
        if self.row.address is None:
            return None
        parts = PostalAddress.from_json(self.row.address)
        return AddressType(
            province=parts.province, city=parts.city, district=parts.district, street=parts.street
        )

    @strawberry.field(description="ISO date; the year alone where only the year may be seen.")
    def birthday(self) -> str | None:
        return None if self.row.birthday is None else self.row.birthday.isoformat()


def check_purpose(purpose: str) -> str:
    cleaned = purpose.strip()
    if not 1 <= len(cleaned) <= PURPOSE_MAX_LENGTH:
        raise bad_input(f"purpose must be 1-{PURPOSE_MAX_LENGTH} characters", field="purpose")
    return cleaned


@strawberry.type
class ProfileQueries:
    @strawberry.field(description="The signed-in customer's own profile.")
    async def me(self, info: Info) -> ProfileType | None:
        async with info.context.uow.session() as session:
            row = await service.get_profile(
                session=session, public_id=info.context.principal.subject
            )
        if row is None:
            raise not_found("No profile for this customer")
        return ProfileType(row=row)

    @strawberry.field(description="Look up one profile by exactly one key, for a stated purpose.")
    async def profile(
        self,
        info: Info,
        purpose: str,
        id: strawberry.ID | None = None,
        union_id: str | None = None,
        open_id: str | None = None,
        app_id: str | None = None,
        phone: str | None = None,
    ) -> ProfileType | None:
        check_purpose(purpose)
        async with info.context.uow.session() as session:
            row = await service.find_profile(
                session=session,
                public_id=id,
                union_id=union_id,
                open_id=open_id,
                app_id=app_id,
                phone=phone,
            )
        return None if row is None else ProfileType(row=row)


@strawberry.input(description="An app identity as a backend service saw it.")
class LinkIdentityInput:
    channel: Channel
    app_id: str
    open_id: str
    union_id: str | None = None


@strawberry.type
class ProfileMutations:
    @strawberry.mutation(description="Attach an app identity to its person (creates or merges).")
    async def link_identity(self, info: Info, input: LinkIdentityInput) -> ProfileType:
        async with info.context.uow.atomic() as session:
            outcome = await service.link_identity(
                session=session,
                actor=info.context.principal,
                channel=input.channel,
                app_id=input.app_id,
                open_id=input.open_id,
                union_id=input.union_id,
            )
        if outcome.merged_profile_ids:
            info.context.clear_loaders()
        return ProfileType(row=outcome.profile)
