"""`auditEvents` for compliance: the log of who read or changed whose data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from cdp.audit.actions import AuditAction, AuditOutcome, AuditRole
from cdp.audit.models import AuditEvent
from cdp.audit.query import AuditFilter, list_events
from cdp.db import as_utc
from cdp.graphql.context import Info
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import DEFAULT_FIRST, After, First, Page, PageInfo, decode_int, encode_cursor
from cdp.profiles import service
from cdp.text import check_text


@object_type("AuditField", description="A personal field named by an audit record.")
class AuditField:
    field: str = strawberry.field(description="The field's GraphQL name, e.g. phone.")
    access: str = strawberry.field(description="How it was seen: full, masked, denied or write.")


@object_type(
    "AuditEvent",
    description="One record of the tamper-evident audit log; never a personal value.",
)
class AuditEventType:
    seq: int = strawberry.field(description="Position in the hash chain, from 1.")
    occurred_at: datetime = strawberry.field(description="When it was recorded (UTC).")
    request_id: str | None = strawberry.field(
        description="The request's id (the X-Request-Id answered); null from the command line."
    )
    actor_subject: str = strawberry.field(
        description="Who acted: the token's subject (a customer's public profile id), or a "
        "refused token's fingerprint."
    )
    actor_role: AuditRole = strawberry.field(description="The role they acted in.")
    action: AuditAction = strawberry.field(description="What was done.")
    profile_surrogate_id: int | None = strawberry.field(
        description="The profile's internal surrogate id (kept after erasure); null: none."
    )
    fields: list[AuditField] = strawberry.field(
        description="The personal fields read or written, and how."
    )
    purpose: str | None = strawberry.field(description="The purpose the actor stated.")
    outcome: AuditOutcome = strawberry.field(description="How it ended.")
    detail: JSON = strawberry.field(description="Non-personal particulars of the action.")

    @classmethod
    def of(cls, row: AuditEvent) -> AuditEventType:
        return copied(
            cls,
            row,
            actor_role=AuditRole(row.actor_role),
            action=AuditAction(row.action),
            profile_surrogate_id=row.profile_id,
            fields=[AuditField(field=f["field"], access=f["access"]) for f in row.fields],
            outcome=AuditOutcome(row.outcome),
        )


@object_type("AuditEventPage", description="One page of audit records.")
class AuditEventPage(Page[AuditEventType]):
    pass


def _described(description: str) -> Any:
    return strawberry.argument(description=description)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Audit records, newest first; reading them is audited too. "
        "Compliance role only."
    )
    async def audit_events(
        self,
        info: Info,
        first: First = DEFAULT_FIRST,
        after: After = None,
        actor: Annotated[str | None, _described("Only records of this actorSubject.")] = None,
        role: Annotated[
            AuditRole | None, _described("Only records of actors in this role.")
        ] = None,
        profile_id: Annotated[
            strawberry.ID | None, _described("Only records about this public profile id.")
        ] = None,
        profile_surrogate_id: Annotated[
            int | None, _described("Only records about this surrogate id (after erasure too).")
        ] = None,
        action: Annotated[AuditAction | None, _described("Only records of this action.")] = None,
        from_: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Recorded at or after (UTC offset)."),
        ] = None,
        to: Annotated[datetime | None, _described("Recorded at or before (UTC offset).")] = None,
        outcome: Annotated[
            AuditOutcome | None, _described("Only records that ended this way.")
        ] = None,
    ) -> AuditEventPage | None:
        if actor is not None:
            check_text(actor, field="actor")  # the filters are kept in the audit record
        action_name = None if action is None else action.value
        role_name = None if role is None else role.value
        outcome_name = None if outcome is None else outcome.value
        before = decode_int(info, after, "audit")
        async with info.context.uow.session() as session:
            surrogate = profile_surrogate_id
            if profile_id is not None:
                found = await service.get_profile(session=session, public_id=profile_id)
                surrogate = found.id if found is not None else -1
            where = AuditFilter(
                actor_subject=actor,
                actor_role=role_name,
                profile_id=surrogate,
                action=action_name,
                outcome=outcome_name,
                since=from_ and as_utc(from_, field="from"),
                until=to and as_utc(to, field="to"),
            )
            page = await list_events(session=session, where=where, first=first, before=before)
        filters: dict[str, Any] = {
            k: v
            for k, v in (
                ("actor", actor),
                ("role", role_name),
                ("profileSurrogateId", surrogate),
                ("action", action_name),
                ("outcome", outcome_name),
            )
            if v is not None
        }
        info.context.uow.trail.record(
            action="audit.read", detail={"filters": filters, "returned": len(page.events)}
        )
        return AuditEventPage(
            items=[AuditEventType.of(row) for row in page.events],
            page_info=PageInfo(
                end_cursor=(
                    None if page.last_seq is None else encode_cursor(info, "audit", page.last_seq)
                ),
                has_next_page=page.has_next_page,
            ),
        )
