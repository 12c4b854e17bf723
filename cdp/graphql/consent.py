"""Consent in GraphQL: a profile's `consents`, `updateMyConsents`, and for services
`canContact` and `recordContact`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from cdp.channels import Channel
from cdp.consent import service
from cdp.consent.models import DEFAULT_GRANTED, Consent, ConsentChange, ConsentPurpose, Contact
from cdp.errors import CdpError, ErrorCode
from cdp.graphql.context import Info
from cdp.graphql.lookups import profile_by_id
from cdp.graphql.pages import DEFAULT_FIRST, PageInfo, check_first, decode_int, encode_cursor

if TYPE_CHECKING:
    from cdp.graphql.profiles import ProfileType

LazyProfile = Annotated["ProfileType", strawberry.lazy("cdp.graphql.profiles")]


@strawberry.type(description="The choice in force for one purpose in one channel.")
class ConsentState:
    purpose: ConsentPurpose
    channel: Channel
    granted: bool
    explicit: bool = strawberry.field(description="False when no choice was recorded (default).")
    notice_version: str | None
    source_channel: Channel | None
    updated_at: datetime | None


@strawberry.type(name="ConsentChange", description="A choice as it was made; never changed.")
class ConsentChangeType:
    purpose: ConsentPurpose
    channel: Channel | None = strawberry.field(
        description="Null: the choice covered every channel."
    )
    granted: bool
    notice_version: str | None
    source_channel: Channel | None
    changed_by: str
    changed_at: datetime


@strawberry.type
class ConsentHistoryPage:
    items: list[ConsentChangeType]
    page_info: PageInfo


@strawberry.type(name="Consents")
class ConsentsType:
    profile_id: strawberry.Private[int]
    current: list[ConsentState]

    @strawberry.field(description="Every change, newest first.")
    async def history(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> ConsentHistoryPage:
        check_first(first)
        before = decode_int(info, after, "consents")
        async with info.context.uow.session() as session:
            rows = await service.history_of(
                session=session,
                profile_id=self.profile_id,
                limit=first + 1,
                before=before,
            )
        page = rows[:first]
        return ConsentHistoryPage(
            items=[_change(row) for row in page],
            page_info=PageInfo(
                end_cursor=encode_cursor(info, "consents", page[-1].id) if page else None,
                has_next_page=len(rows) > first,
            ),
        )


def _change(row: ConsentChange) -> ConsentChangeType:
    return ConsentChangeType(
        purpose=row.purpose,
        channel=row.channel,
        granted=row.granted,
        notice_version=row.notice_version,
        source_channel=row.source_channel,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
    )


def _state(purpose: ConsentPurpose, channel: Channel, row: Consent | None) -> ConsentState:
    if row is None:
        return ConsentState(
            purpose=purpose,
            channel=channel,
            granted=DEFAULT_GRANTED[purpose],
            explicit=False,
            notice_version=None,
            source_channel=None,
            updated_at=None,
        )
    return ConsentState(
        purpose=purpose,
        channel=channel,
        granted=row.granted,
        explicit=True,
        notice_version=row.notice_version,
        source_channel=row.source_channel,
        updated_at=row.updated_at,
    )


async def consents_of(info: Info, profile_id: int) -> ConsentsType:
    async def load(keys: Sequence[int]) -> list[dict[tuple[ConsentPurpose, Channel], Consent]]:
        async with info.context.uow.session() as session:
            found = await service.consents_of(session=session, profile_ids=list(keys))
        return [found[key] for key in keys]

    rows = await info.context.loader("consents", load).load(profile_id)
    return ConsentsType(
        profile_id=profile_id,
        current=[_state(p, c, rows.get((p, c))) for p in ConsentPurpose for c in Channel],
    )


@strawberry.type
class ContactDecision:
    allowed: bool
    reason: str | None


@strawberry.type(name="Contact", description="A message sent to a person.")
class ContactType:
    row: strawberry.Private[Contact]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def purpose(self) -> ConsentPurpose:
        return self.row.purpose

    @strawberry.field
    def channel(self) -> Channel:
        return self.row.channel

    @strawberry.field
    def sent_at(self) -> datetime:
        return self.row.sent_at


@strawberry.input
class ConsentChoiceInput:
    purpose: ConsentPurpose
    granted: bool
    channel: Channel | None = strawberry.field(default=None, description="Null: every channel.")


@strawberry.input
class UpdateMyConsentsInput:
    consents: list[ConsentChoiceInput]
    notice_version: str | None = None
    source_channel: Channel | None = strawberry.field(
        default=None, description="The app the choice was made in."
    )


@strawberry.input
class RecordContactInput:
    profile_id: strawberry.ID
    purpose: ConsentPurpose
    channel: Channel
    idempotency_key: str | None = None


@strawberry.type
class ConsentQueries:
    @strawberry.field(description="May the brand contact this person now, and why (not).")
    async def can_contact(
        self, info: Info, profile_id: strawberry.ID, purpose: ConsentPurpose, channel: Channel
    ) -> ContactDecision | None:
        async with info.context.uow.session() as session:
            try:
                profile = await profile_by_id(session, info.context.vault, profile_id)
            except CdpError as exc:
                if exc.code is not ErrorCode.SUPPRESSED:
                    raise
                return ContactDecision(allowed=False, reason=service.Reason.SUPPRESSED.value)
            decision = await service.can_contact(
                session=session,
                profile=profile,
                purpose=purpose,
                channel=channel,
                caps=info.context.settings.contact_caps,
            )
        return ContactDecision(allowed=decision.allowed, reason=decision.reason.value)


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(description="The customer's choices; without a channel, every channel.")
    async def update_my_consents(
        self, info: Info, input: UpdateMyConsentsInput
    ) -> LazyProfile | None:
        from cdp.graphql.profiles import ProfileType, own_profile

        row = await own_profile(info, writing=True)
        async with info.context.uow.atomic("consent.update") as session:
            await service.update_consents(
                session=session,
                actor=info.context.principal,
                profile=row,
                choices=[service.Choice(c.purpose, c.channel, c.granted) for c in input.consents],
                notice_version=input.notice_version,
                source_channel=input.source_channel,
            )
        info.context.clear_loaders()
        return ProfileType(row=row)

    @strawberry.mutation(description="Record a send; CONFLICT when consent or a cap forbids it.")
    async def record_contact(self, info: Info, input: RecordContactInput) -> ContactType | None:
        async with info.context.uow.atomic("contact.record") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            contact = await service.record_contact(
                session=session,
                profile=profile,
                purpose=input.purpose,
                channel=input.channel,
                caps=info.context.settings.contact_caps,
                idempotency_key=input.idempotency_key,
            )
        return ContactType(row=contact)
