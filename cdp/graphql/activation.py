"""Activation in GraphQL: a service queues a template's message for one person (through the
one send decision); a marketer schedules, forecasts, cancels and reads campaigns to an
audience, in k-anonymous counts only, never a person."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation import campaigns as service
from cdp.activation.messages import Recipient, queue_messages
from cdp.activation.models import Campaign
from cdp.db import utcnow
from cdp.graphql.audiences import AudienceCount
from cdp.graphql.context import Info
from cdp.graphql.lookups import profile_write
from cdp.graphql.objects import object_type
from cdp.text import clean_key

REASONS = (
    "SUPPRESSED, NO_CONSENT, OPTED_OUT, FREQUENCY_CAP, CHANNEL_CAP, TOPIC_CAP, NO_RECIPIENT, "
    "NOT_FOLLOWING or NO_SUBSCRIPTION"
)


@object_type("ReasonCount", description="How many people one rule refused.")
class ReasonCount:
    reason: str = strawberry.field(description=f"The rule: {REASONS}.")
    people: AudienceCount = strawberry.field(description="How many it refused.")


@object_type("CampaignForecast", description="A dry run: the send decision for every member.")
class CampaignForecast:
    members: AudienceCount = strawberry.field(description="The audience's members.")
    would_send: AudienceCount = strawberry.field(description="Members who would be sent it.")
    refused: list[ReasonCount] = strawberry.field(description="The others, by rule.")
    quiet_hours: bool = strawberry.field(
        description="True when the sends would wait for quiet hours to end."
    )


@object_type("CampaignTotals", description="What a campaign's messages became, so far.")
class CampaignTotals:
    queued: AudienceCount = strawberry.field(description="Members decided (sent or refused).")
    sent: AudienceCount = strawberry.field(description="Accepted by WeChat or the SMS provider.")
    delivered: AudienceCount = strawberry.field(
        description="Reported delivered by WeChat's send events (message push)."
    )
    pending: AudienceCount = strawberry.field(description="Waiting (throttle, quiet hours).")
    failed: AudienceCount = strawberry.field(description="Dead after every try.")
    uncertain: AudienceCount = strawberry.field(
        description="Possibly sent when a worker stopped; never sent again."
    )
    refused: list[ReasonCount] = strawberry.field(description="Refused, by rule.")
    ordered_within_seven_days: AudienceCount = strawberry.field(
        description="People sent it who paid for an order within seven days after."
    )


@object_type("Campaign", description="A template's message to an audience, throttled.")
class CampaignType:
    name: str = strawberry.field(description="The campaign's name.")
    template: str = strawberry.field(description="The template (CDP_ACTIVATION_TEMPLATES).")
    audience: str = strawberry.field(description="The audience whose members receive it.")
    starts_at: datetime = strawberry.field(description="When sending begins (UTC).")
    per_minute: int = strawberry.field(description="Sends a minute at most.")
    status: str = strawberry.field(description="SCHEDULED, RUNNING, QUEUED or CANCELLED.")
    created_by: str = strawberry.field(description="Who scheduled it (their subject).")
    totals: CampaignTotals = strawberry.field(description="What its messages became.")


@strawberry.input(description="A template variable's value.")
class TemplateVariableInput:
    name: str = strawberry.field(description="The variable (e.g. order_no).")
    value: str = strawberry.field(description="Its value: never a personal value.")


@strawberry.input(description="A template's message for one person.")
class SendMessageInput:
    profile_id: strawberry.ID = strawberry.field(description="Profile.id.")
    template: str = strawberry.field(description="The template's name.")
    idempotency_key: str = strawberry.field(description="The same key again queues once.")
    variables: list[TemplateVariableInput] = strawberry.field(
        default_factory=list, description="The values of the template's variables."
    )


@object_type("MessageDecision", description="The send decision for one message.")
class MessageDecision:
    allowed: bool = strawberry.field(description="Whether it was queued to be sent.")
    reason: str = strawberry.field(
        description=f"CONSENTED or DEFAULT when allowed; else the rule: {REASONS}."
    )
    not_before: datetime | None = strawberry.field(
        description="When allowed in quiet hours: when it will go (UTC)."
    )
    new: bool = strawberry.field(description="False when the key had been queued before.")


@strawberry.input(description="A campaign to schedule.")
class ScheduleCampaignInput:
    name: str = strawberry.field(description="Its name (unique).")
    template: str = strawberry.field(description="The template (CDP_ACTIVATION_TEMPLATES).")
    audience: str = strawberry.field(description="The audience whose members receive it.")
    starts_at: datetime | None = strawberry.field(
        default=None, description="When sending begins; now when omitted."
    )
    per_minute: int = strawberry.field(default=600, description="Sends a minute at most.")


@strawberry.input(description="A campaign to stop.")
class CancelCampaignInput:
    name: str = strawberry.field(description="The campaign's name.")


def _count(info: Info, people: int) -> AudienceCount:
    return AudienceCount.of(info, people)


def _reasons(info: Info, counts: dict[str, int]) -> list[ReasonCount]:
    return [ReasonCount(reason=r, people=_count(info, n)) for r, n in sorted(counts.items())]


async def _campaign(info: Info, session: AsyncSession, row: Campaign) -> CampaignType:
    found = await service.totals(session=session, campaign=row)
    totals = CampaignTotals(
        queued=_count(info, found.queued),
        sent=_count(info, found.sent),
        delivered=_count(info, found.delivered),
        pending=_count(info, found.pending),
        failed=_count(info, found.failed),
        uncertain=_count(info, found.uncertain),
        refused=_reasons(info, dict(found.refused)),
        ordered_within_seven_days=_count(info, found.ordered_within_7_days),
    )
    return CampaignType(
        name=row.name,
        template=row.template,
        audience=row.audience,
        starts_at=row.starts_at,
        per_minute=row.per_minute,
        status=row.status.value,
        created_by=row.created_by,
        totals=totals,
    )


@strawberry.type
class ActivationQueries:
    @strawberry.field(description="One campaign and its totals. Marketer role only.")
    async def campaign(
        self, info: Info, name: Annotated[str, strawberry.argument(description="Its name.")]
    ) -> CampaignType | None:
        async with info.context.uow.session() as session:
            row = await service.campaign_named(session=session, name=name)
            info.context.uow.trail.record(action="campaign.read", detail={"campaign": row.name})
            return await _campaign(info, session, row)

    @strawberry.field(
        description="A dry run: who of an audience would be sent a template now, and who "
        "refused by which rule (the send decision for each). Marketer role only."
    )
    async def campaign_forecast(
        self,
        info: Info,
        template: Annotated[str, strawberry.argument(description="The template's name.")],
        audience: Annotated[str, strawberry.argument(description="The audience's name.")],
    ) -> CampaignForecast | None:
        async with info.context.uow.session() as session:
            found = await service.forecast(
                session=session,
                settings=info.context.settings,
                template=template,
                audience=audience,
                now=utcnow(),
            )
        detail = {"template": template, "audience": audience}
        info.context.uow.trail.record(action="campaign.read", detail=detail)
        return CampaignForecast(
            members=_count(info, found.members),
            would_send=_count(info, found.would_send),
            refused=_reasons(info, dict(found.refused)),
            quiet_hours=found.quiet_hours,
        )


@strawberry.type
class ActivationMutations:
    @strawberry.mutation(
        description="Queue a template's message for one person, if the send decision allows "
        "it (the refusal is recorded either way). Service role only."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> MessageDecision | None:
        key = clean_key(input.idempotency_key)
        async with profile_write(info, "message.send", str(input.profile_id)) as (
            session,
            profile,
        ):
            assert profile.id is not None
            variables = {v.name: v.value for v in input.variables}
            (queued,) = await queue_messages(
                session=session,
                settings=info.context.settings,
                name=input.template,
                recipients=[Recipient(profile.id, f"message:{key}", variables)],
            )
            detail = {"template": input.template, "reason": queued.decision.reason}
            info.context.uow.trail.record(
                action="message.send", profile_id=profile.id, detail=detail
            )
        return MessageDecision(
            allowed=queued.decision.allowed,
            reason=queued.decision.reason,
            not_before=queued.decision.not_before,
            new=queued.new,
        )

    @strawberry.mutation(
        description="Schedule a template's message to an audience's members. Marketer role only."
    )
    async def schedule_campaign(
        self, info: Info, input: ScheduleCampaignInput
    ) -> CampaignType | None:
        async with info.context.uow.atomic("campaign.schedule") as session:
            row = await service.schedule_campaign(
                session=session,
                settings=info.context.settings,
                actor=info.context.principal.subject,
                name=input.name,
                template=input.template,
                audience=input.audience,
                starts_at=input.starts_at,
                per_minute=input.per_minute,
            )
            return await _campaign(info, session, row)

    @strawberry.mutation(
        description="Stop queueing a campaign's members (queued messages still go). "
        "Marketer role only."
    )
    async def cancel_campaign(self, info: Info, input: CancelCampaignInput) -> CampaignType | None:
        async with info.context.uow.atomic("campaign.cancel") as session:
            row = await service.cancel_campaign(session=session, name=input.name)
            return await _campaign(info, session, row)
