"""Behaviour events in GraphQL: `recordEvent` and `recordEvents` for services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from cdp.channels import Channel
from cdp.db import as_utc
from cdp.errors import bad_input
from cdp.events import service
from cdp.events.service import EventOutcome, EventStatus
from cdp.graphql.context import Info
from cdp.graphql.objects import copied, object_type


@object_type("EventResult", description="What became of one event.")
class EventResult:
    index: int = strawberry.field(description="The event's position in the input, from 0.")
    event_id: str = strawberry.field(description="The sender's eventId.")
    status: EventStatus = strawberry.field(description="Accepted, a replay, or refused.")
    code: str | None = strawberry.field(
        default=None, description="For a refusal: the error code (e.g. BAD_USER_INPUT, SUPPRESSED)."
    )
    message: str | None = strawberry.field(default=None, description="For a refusal: why.")
    field: str | None = strawberry.field(
        default=None, description="For a refusal: the input field at fault, if one."
    )

    @classmethod
    def of(cls, outcome: EventOutcome) -> EventResult:
        return copied(cls, outcome, code=outcome.code.value if outcome.code else None)


@strawberry.input(description="Name the person by appId and openId, or by profileId.")
class RecordEventInput:
    event_id: str = strawberry.field(description="The sender's id: replays count once.")
    type: str = strawberry.field(description="e.g. article_read, menu_click, video_view")
    channel: Channel = strawberry.field(description="The app it happened in.")
    occurred_at: datetime = strawberry.field(
        description="When it happened (with a UTC offset); not in the future."
    )
    app_id: str | None = strawberry.field(default=None, description="With openId: the AppID.")
    open_id: str | None = strawberry.field(
        default=None, description="The person's OpenID in that app."
    )
    profile_id: strawberry.ID | None = strawberry.field(
        default=None, description="Or the public profile id."
    )
    entry: str | None = strawberry.field(default=None, description="e.g. from=menu&type=home")
    properties: JSON | None = strawberry.field(
        default=None, description=f"A JSON object of at most {service.MAX_PROPERTIES_BYTES} bytes."
    )


@strawberry.input(description="Events to record together.")
class RecordEventsInput:
    events: list[RecordEventInput] = strawberry.field(
        description=f"1-{service.MAX_BATCH} events, each with a result."
    )


def _event(given: RecordEventInput) -> service.EventInput:
    occurred = as_utc(given.occurred_at, field="occurredAt")
    properties: Any = {} if given.properties is None else given.properties
    return service.EventInput(
        event_id=given.event_id,
        type=given.type,
        channel=given.channel,
        occurred_at=occurred,
        app_id=given.app_id,
        open_id=given.open_id,
        profile_id=given.profile_id,
        entry=given.entry,
        properties=properties,
    )


@strawberry.type
class EventMutations:
    @strawberry.mutation(description="Record one event (idempotent by eventId). Service role only.")
    async def record_event(self, info: Info, input: RecordEventInput) -> EventResult | None:
        async with info.context.uow.atomic("event.record") as session:
            outcome = await service.record_event(
                session=session,
                vault=info.context.vault,
                event=_event(input),
            )
        return EventResult.of(outcome)

    @strawberry.mutation(
        description=f"Record up to {service.MAX_BATCH} events, with a result per event. "
        "Service role only."
    )
    async def record_events(self, info: Info, input: RecordEventsInput) -> list[EventResult] | None:
        if not 1 <= len(input.events) <= service.MAX_BATCH:
            raise bad_input(f"send 1-{service.MAX_BATCH} events per call", field="events")
        async with info.context.uow.atomic("event.record") as session:
            outcomes = await service.record_events(
                session=session,
                vault=info.context.vault,
                events=[_event(e) for e in input.events],
            )
        return [EventResult.of(o) for o in outcomes]
