"""Profile, Identity and Address types; `linkIdentity` and `updateMyProfile` (the queries
that find a profile are in cdp.graphql.profile_queries)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import set_target
from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.db import utcnow
from cdp.errors import bad_input, conflict, not_found
from cdp.graphql.context import Info, by_key
from cdp.graphql.objects import object_type
from cdp.graphql.pages import DEFAULT_FIRST, MAX_FIRST, After, First
from cdp.graphql.sealed import (
    AddressType,
    IdentityType,
    iso_date,
    load_identities,
    personal_value,
)
from cdp.linking import link as linking
from cdp.linking import reviews
from cdp.orders.tiers import TierThresholds, paid_spends
from cdp.profiles import service
from cdp.profiles.models import PhoneSource, Tier
from cdp.profiles.models import Profile as ProfileRow
from cdp.profiles.values import PostalAddress, display_phone

if TYPE_CHECKING:
    from cdp.graphql.consent import ConsentsType, ContactDecision
    from cdp.graphql.follows import WechatFollowType
    from cdp.graphql.loyalty import CouponPage, PointsType
    from cdp.graphql.orders import OrderPage
    from cdp.graphql.tags import TagPage
    from cdp.loyalty.coupons import CouponStatus
    from cdp.orders.models import OrderStatus


def _displayed(phone: str | None) -> str | None:
    # Stored and indexed as E.164; shown as the person writes it (masks read this form too).
    return None if phone is None else display_phone(phone)


async def _spends(session: AsyncSession, keys: list[int]) -> Mapping[int, int]:
    return await paid_spends(session, keys, utcnow())


# One batched statement for the page's tiers and spends alike.
SPENDS = by_key("spends", _spends)


@object_type(
    "TierProgress",
    description="The paid spend a tier is computed from, and what the next tier needs.",
)
class TierProgress:
    spend_fen: int = strawberry.field(
        description="Paid spend over the last 12 months, in fen (refunds excluded)."
    )
    next_tier: Tier | None = strawberry.field(description="The tier above; null at the top.")
    next_tier_fen: int | None = strawberry.field(
        description="The spend (fen, over 12 months) the next tier starts at; null at the top."
    )

    @classmethod
    def of(cls, spend_fen: int, thresholds: TierThresholds) -> TierProgress:
        above = thresholds.next_above(spend_fen)
        return cls(
            spend_fen=spend_fen,
            next_tier=None if above is None else above[0],
            next_tier_fen=None if above is None else above[1],
        )


@object_type(
    "Profile",
    description="One person across every app of the brand. Readable by the customer "
    "(their own), support, compliance and service; each field says what a role sees.",
)
class ProfileType:
    row: strawberry.Private[ProfileRow]

    @property
    def audit_profile_id(self) -> int | None:
        return self.row.id

    @strawberry.field(description="The public profile id (a UUID). Every role but analyst.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.public_id)

    @strawberry.field(description="From paid spend over the last 12 months, as of now.")
    async def tier(self, info: Info) -> Tier:
        thresholds = TierThresholds.of(info.context.settings)
        assert self.row.id is not None
        return thresholds.tier_for(await info.context.loader(SPENDS).load(self.row.id))

    @strawberry.field(
        description="The paid spend behind the tier and the next tier's threshold, as of now."
    )
    async def tier_progress(self, info: Info) -> TierProgress:
        assert self.row.id is not None
        spend = await info.context.loader(SPENDS).load(self.row.id)
        return TierProgress.of(spend, TierThresholds.of(info.context.settings))

    @strawberry.field(description="When the profile was created (UTC).")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When a personal field or the UnionID last changed (UTC).")
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(
        description="The WeChat UnionID that ties the brand's apps together. "
        "Customer (own), compliance and service; support is FORBIDDEN."
    )
    def union_id(self, info: Info) -> str | None:
        return cast("str | None", personal_value(info, self.row, "union_id"))

    @strawberry.field(
        description="The person's OpenID in each app, oldest first. "
        "Customer (own), compliance and service; support is FORBIDDEN."
    )
    async def identities(self, info: Info) -> list[IdentityType] | None:
        assert self.row.id is not None
        return [IdentityType.of(row) for row in await load_identities(info, self.row.id)]

    @strawberry.field(
        description="The phone as the person knows it: mainland China numbers in national "
        "form (13812345678), others in international form (+44 20 7946 0958). Customer "
        "(own) in full; support and compliance masked (138****5678); service FORBIDDEN."
    )
    def phone(self, info: Info) -> str | None:
        return cast("str | None", personal_value(info, self.row, "phone", _displayed))

    @strawberry.field(
        description="Whether the phone is verified (WeChat's phone authorisation or an SMS "
        "code); false for one the person typed in; null when there is no phone. A lookup by "
        "phone reaches the verified holder. Customer (own), support, compliance and service."
    )
    def phone_verified(self) -> bool | None:
        return None if self.row.phone_bidx is None else self.row.phone_verified

    @strawberry.field(
        description="Where the phone came from; null when there is no phone. Customer (own), "
        "support, compliance and service."
    )
    def phone_source(self) -> PhoneSource | None:
        return None if self.row.phone_bidx is None else self.row.phone_source

    @strawberry.field(
        description="The person's name. Customer (own) in full; support and compliance "
        "masked to the first character and one star (张*); service FORBIDDEN."
    )
    def name(self, info: Info) -> str | None:
        return cast("str | None", personal_value(info, self.row, "name"))

    @strawberry.field(
        description="The postal address. Customer (own) in full; support and compliance "
        "province and city only; service FORBIDDEN."
    )
    def address(self, info: Info) -> AddressType | None:
        return cast("AddressType | None", personal_value(info, self.row, "address", AddressType.of))

    @strawberry.field(
        description="ISO date (1992-05-12). Customer (own) in full; compliance the year "
        "alone (1992); support and service FORBIDDEN."
    )
    def birthday(self, info: Info) -> str | None:
        return cast("str | None", personal_value(info, self.row, "birthday", iso_date))

    @strawberry.field(description="The points balance shared by every app, and its ledger.")
    async def points(
        self, info: Info
    ) -> Annotated[PointsType, strawberry.lazy("cdp.graphql.loyalty")]:
        from cdp.graphql.loyalty import points_of

        assert self.row.id is not None
        return await points_of(info, self.row.id)

    @strawberry.field(description="Coupons, newest first.")
    async def coupons(
        self,
        info: Info,
        status: Annotated[
            Annotated[CouponStatus, strawberry.lazy("cdp.graphql.loyalty")] | None,
            strawberry.argument(description="Only coupons in this status; null: all."),
        ] = None,
        first: First = DEFAULT_FIRST,
        after: After = None,
    ) -> Annotated[CouponPage, strawberry.lazy("cdp.graphql.loyalty")]:
        from cdp.graphql.loyalty import coupons_of

        assert self.row.id is not None
        return await coupons_of(info, self.row.id, status, first, after)

    @strawberry.field(description="Orders from every channel, newest first.")
    async def orders(
        self,
        info: Info,
        status: Annotated[
            Annotated[OrderStatus, strawberry.lazy("cdp.graphql.orders")] | None,
            strawberry.argument(description="Only orders in this status; null: all."),
        ] = None,
        first: First = DEFAULT_FIRST,
        after: After = None,
    ) -> Annotated[OrderPage, strawberry.lazy("cdp.graphql.orders")]:
        from cdp.graphql.orders import orders_of

        assert self.row.id is not None
        return await orders_of(info, self.row.id, status, first, after)

    @strawberry.field(description="Consent per purpose and channel, and its history.")
    async def consents(
        self, info: Info
    ) -> Annotated[ConsentsType, strawberry.lazy("cdp.graphql.consent")]:
        from cdp.graphql.consent import consents_of

        assert self.row.id is not None
        return await consents_of(info, self.row.id)

    @strawberry.field(
        description="What canContact answers for this person now: may the brand send a "
        "message for `purpose` in `channel`, and why (not). Every role that reads the profile."
    )
    async def can_contact(
        self,
        info: Info,
        purpose: Annotated[
            ConsentPurpose, strawberry.argument(description="What the message would be for.")
        ],
        channel: Annotated[Channel, strawberry.argument(description="Where it would be sent.")],
    ) -> Annotated[ContactDecision, strawberry.lazy("cdp.graphql.consent")] | None:
        from cdp.graphql.consent import contact_decision

        return await contact_decision(info, self.row, purpose, channel)

    @strawberry.field(
        description="Follow state per official account, from WeChat's message push. "
        "Customer (own), support, compliance and service; analyst is FORBIDDEN."
    )
    async def wechat_follows(
        self, info: Info
    ) -> list[Annotated[WechatFollowType, strawberry.lazy("cdp.graphql.follows")]]:
        from cdp.graphql.follows import follows_of

        assert self.row.id is not None
        return await follows_of(info, self.row.id)

    @strawberry.field(description="Tags, by name.")
    async def tags(
        self, info: Info, first: First = MAX_FIRST, after: After = None
    ) -> Annotated[TagPage, strawberry.lazy("cdp.graphql.tags")]:
        from cdp.graphql.tags import tags_of

        assert self.row.id is not None
        return await tags_of(info, self.row.id, first, after)


async def own_profile(info: Info, *, writing: bool = False) -> ProfileRow:
    """The signed-in customer's profile (following merges); NOT_FOUND when there is none.
    `writing` holds it against a concurrent merge or erasure until the request commits."""
    find = service.writable_profile if writing else service.get_profile
    async with info.context.uow.session() as session:
        row = await find(session=session, public_id=info.context.principal.subject)
    if row is None:
        raise not_found("No profile for this customer")
    return row


@strawberry.input(description="An app identity as a backend service saw it.")
class LinkIdentityInput:
    channel: Channel = strawberry.field(description="The kind of app.")
    app_id: str = strawberry.field(description="The app's WeChat AppID.")
    open_id: str = strawberry.field(description="The person's OpenID in that app.")
    union_id: str | None = strawberry.field(
        default=None, description="The UnionID, when WeChat gave one: it finds or merges."
    )


@strawberry.input(name="AddressInput", description="Parts left out or null are cleared.")
class AddressInput:
    province: str | None = strawberry.field(default=None, description="Province, e.g. 浙江省.")
    city: str | None = strawberry.field(default=None, description="City, e.g. 杭州市.")
    district: str | None = strawberry.field(default=None, description="District, e.g. 西湖区.")
    street: str | None = strawberry.field(default=None, description="Street and number.")


@strawberry.input(description="Fields left out stay as they are; null clears a field.")
class UpdateMyProfileInput:
    phone: str | None = strawberry.field(
        default=strawberry.UNSET, description="A phone number in any common form."
    )
    name: str | None = strawberry.field(default=strawberry.UNSET, description="The name.")
    birthday: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO date, YYYY-MM-DD."
    )
    address: AddressInput | None = strawberry.field(
        default=strawberry.UNSET, description="The whole address (parts left out are cleared)."
    )


def _parse_birthday(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise bad_input("birthday must be a real date, YYYY-MM-DD", field="birthday") from None


def _given(value: Any) -> Any:
    return service.UNSET if value is strawberry.UNSET else value


@strawberry.type
class ProfileMutations:
    @strawberry.mutation(
        description="Attach an app identity to its person (creates or merges). Service role only."
    )
    async def link_identity(self, info: Info, input: LinkIdentityInput) -> ProfileType | None:
        try:
            async with info.context.uow.atomic("identity.link") as session:
                outcome = await linking.link_identity(
                    session=session,
                    vault=info.context.vault,
                    settings=info.context.settings,
                    channel=input.channel,
                    app_id=input.app_id,
                    open_id=input.open_id,
                    union_id=input.union_id,
                )
        except reviews.LimitBroken as refused:
            if refused.profile is None:  # a new OpenID: nothing to merge, nothing to review
                raise conflict(refused.message) from None
            # The refused link wrote nothing; its review is kept on its own.
            async with info.context.uow.atomic("identity.review") as session:
                review = await reviews.open_review(
                    session=session, refused=refused, profile=refused.profile, via="linkIdentity"
                )
            raise reviews.ReviewPending(review) from None
        if outcome.merged_profile_ids:
            info.context.clear_loaders()
        return ProfileType(row=outcome.profile)

    @strawberry.mutation(
        description="The customer corrects their own personal fields. Customer role only."
    )
    async def update_my_profile(
        self, info: Info, input: UpdateMyProfileInput
    ) -> ProfileType | None:
        row = await own_profile(info, writing=True)
        async with info.context.uow.atomic("profile.update") as session:
            set_target(session, row.id)
            birthday, address = _given(input.birthday), _given(input.address)
            if isinstance(birthday, str):
                birthday = _parse_birthday(birthday)
            if isinstance(address, AddressInput):
                address = PostalAddress(
                    address.province, address.city, address.district, address.street
                )
            await service.update_personal_fields(
                session=session,
                vault=info.context.vault,
                profile=row,
                phone=_given(input.phone),
                name=_given(input.name),
                birthday=birthday,
                address=address,
            )
        return ProfileType(row=row)
