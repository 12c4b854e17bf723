"""Consent in GraphQL: a profile's `consents`, `updateMyConsents`, and for services
`canContact` and `recordContact`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation.decision import decide
from cdp.activation.messages import template_named
from cdp.channels import Channel
from cdp.consent import contact as sends
from cdp.consent import service
from cdp.consent.contact import ContactAsk, Reason
from cdp.consent.models import Consent, ConsentChange, ConsentPurpose, Contact, current_states
from cdp.db import utcnow
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.graphql.context import Info, by_key
from cdp.graphql.lookups import profile_by_id, profile_write
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import (
    DEFAULT_FIRST,
    After,
    First,
    Page,
    id_page,
)

if TYPE_CHECKING:
    from cdp.graphql.profiles import ProfileType
    from cdp.profiles.models import Profile

LazyProfile = Annotated["ProfileType", strawberry.lazy("cdp.graphql.profiles")]


NOTICE_VERSION = "The privacy notice version the person saw, e.g. 2025-09."
SOURCE_CHANNEL = "The app the choice was made in."


@object_type("ConsentState", description="The choice in force for one purpose in one channel.")
class ConsentState:
    purpose: ConsentPurpose = strawberry.field(description="What the brand may do.")
    channel: Channel = strawberry.field(description="Where.")
    granted: bool = strawberry.field(description="Whether it is allowed now.")
    explicit: bool = strawberry.field(description="False when no choice was recorded (default).")
    notice_version: str | None = strawberry.field(description=NOTICE_VERSION)
    source_channel: Channel | None = strawberry.field(description=SOURCE_CHANNEL)
    updated_at: datetime | None = strawberry.field(
        description="When the choice was made (UTC); null for a default."
    )


@object_type("ConsentChange", description="A choice as it was made; never changed.")
class ConsentChangeType:
    purpose: ConsentPurpose = strawberry.field(description="What the choice was about.")
    channel: Channel | None = strawberry.field(
        description="Null: the choice covered every channel."
    )
    granted: bool = strawberry.field(description="Yes or no.")
    notice_version: str | None = strawberry.field(description=NOTICE_VERSION)
    source_channel: Channel | None = strawberry.field(description=SOURCE_CHANNEL)
    changed_by: str = strawberry.field(description="The subject of whoever recorded it.")
    changed_at: datetime = strawberry.field(description="When (UTC).")


@object_type("ConsentHistoryPage", description="One page of a consent history.")
class ConsentHistoryPage(Page[ConsentChangeType]):
    pass


@object_type("Consents", description="A person's consent: in force now, and its history.")
class ConsentsType:
    profile_id: strawberry.Private[int]
    current: list[ConsentState] = strawberry.field(
        description="One state for every purpose and channel, defaults included."
    )

    @strawberry.field(description="Every change, newest first.")
    async def history(
        self, info: Info, first: First = DEFAULT_FIRST, after: After = None
    ) -> ConsentHistoryPage:
        history = partial(service.history_of, profile_id=self.profile_id)
        page, page_info = await id_page(info, "consents", first, after, history)
        return ConsentHistoryPage(items=[_change(row) for row in page], page_info=page_info)


def _change(row: ConsentChange) -> ConsentChangeType:
    return copied(ConsentChangeType, row)


async def _consents(
    session: AsyncSession, keys: list[int]
) -> Mapping[int, dict[tuple[ConsentPurpose, Channel], Consent]]:
    return await service.consents_of(session=session, profile_ids=keys)


CONSENTS = by_key("consents", _consents)


async def consents_of(info: Info, profile_id: int) -> ConsentsType:
    rows = await info.context.loader(CONSENTS).load(profile_id)
    return ConsentsType(
        profile_id=profile_id,
        current=[ConsentState(**state) for state in current_states(rows)],
    )


@object_type("ContactDecision", description="Whether the brand may contact a person now.")
class ContactDecision:
    allowed: bool = strawberry.field(description="Whether a message may be sent now.")
    reason: Reason | None = strawberry.field(description="Why (not).")


@object_type("Contact", description="A message sent to a person.")
class ContactType:
    id: strawberry.ID = strawberry.field(description="The contact's id.")
    purpose: ConsentPurpose = strawberry.field(description="What it was for.")
    channel: Channel = strawberry.field(description="Where it was sent.")
    sent_at: datetime = strawberry.field(description="When it was sent (UTC).")

    @classmethod
    def of(cls, row: Contact) -> ContactType:
        return copied(cls, row, id=strawberry.ID(str(row.id)))


@strawberry.input(description="One choice: yes or no to a purpose, in one or every channel.")
class ConsentChoiceInput:
    purpose: ConsentPurpose = strawberry.field(description="What the choice is about.")
    granted: bool = strawberry.field(description="Yes or no.")
    channel: Channel | None = strawberry.field(default=None, description="Null: every channel.")


@strawberry.input(description="The customer's choices, made together.")
class UpdateMyConsentsInput:
    consents: list[ConsentChoiceInput] = strawberry.field(description="The choices.")
    notice_version: str | None = strawberry.field(default=None, description=NOTICE_VERSION)
    source_channel: Channel | None = strawberry.field(default=None, description=SOURCE_CHANNEL)


@strawberry.input(description="A message sent (or about to be) to a person.")
class RecordContactInput:
    profile_id: strawberry.ID = strawberry.field(description="The public profile id.")
    purpose: ConsentPurpose = strawberry.field(description="What it is for.")
    channel: Channel = strawberry.field(description="Where it is sent.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="The sender's key: the same key again records once."
    )


async def contact_decision(
    info: Info, profile: Profile, purpose: ConsentPurpose, channel: Channel
) -> ContactDecision:
    """What canContact answers for a profile already found."""
    async with info.context.uow.session() as session:
        decision = await sends.can_contact(
            session=session,
            ask=ContactAsk(profile, purpose, channel),
            caps=info.context.settings.contact_caps,
        )
    return ContactDecision(allowed=decision.allowed, reason=decision.reason)


async def _send_decision(
    info: Info,
    session: AsyncSession,
    profile: Profile,
    purpose: ConsentPurpose,
    channel: Channel,
    name: str,
) -> ContactDecision:
    settings = info.context.settings
    chosen = template_named(settings, name)
    if (chosen.purpose, chosen.channel) != (purpose.value, channel.value):
        raise bad_input(f"the template {name!r} is for {chosen.purpose} in {chosen.channel}")
    assert profile.id is not None
    decided = await decide(
        session=session,
        profile_ids=[profile.id],
        name=name,
        template=chosen,
        settings=settings,
        now=utcnow(),
    )
    reason = Reason(decided[profile.id].reason)
    return ContactDecision(allowed=decided[profile.id].allowed, reason=reason)


@strawberry.type
class ConsentQueries:
    @strawberry.field(
        description="May the brand contact this person now, and why (not). Service role only."
    )
    async def can_contact(
        self,
        info: Info,
        profile_id: Annotated[strawberry.ID, strawberry.argument(description="Profile.id.")],
        purpose: Annotated[
            ConsentPurpose, strawberry.argument(description="What the message would be for.")
        ],
        channel: Annotated[Channel, strawberry.argument(description="Where it would be sent.")],
        template: Annotated[
            str | None,
            strawberry.argument(
                description="A message template (CDP_ACTIVATION_TEMPLATES) of this purpose and "
                "channel: the whole send decision for it (caps of its channel and topic, a "
                "recipient, a follower, an acceptance left), as its messages get."
            ),
        ] = None,
    ) -> ContactDecision | None:
        async with info.context.uow.session() as session:
            try:
                profile = await profile_by_id(session, info.context.vault, profile_id)
            except CdpError as exc:
                if exc.code is not ErrorCode.SUPPRESSED:
                    raise
                return ContactDecision(allowed=False, reason=Reason.SUPPRESSED)
            if template is not None:
                return await _send_decision(info, session, profile, purpose, channel, template)
        return await contact_decision(info, profile, purpose, channel)


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(
        description="The customer's choices; without a channel, every channel. Customer role only."
    )
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

    @strawberry.mutation(
        description="Record a send; CONFLICT when consent or a cap forbids it. Service role only."
    )
    async def record_contact(self, info: Info, input: RecordContactInput) -> ContactType | None:
        async with profile_write(info, "contact.record", input.profile_id) as (session, profile):
            contact = await sends.record_contact(
                session=session,
                ask=ContactAsk(profile, input.purpose, input.channel),
                caps=info.context.settings.contact_caps,
                idempotency_key=input.idempotency_key,
            )
        return ContactType.of(contact)
