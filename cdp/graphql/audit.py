"""`auditEvents` for compliance: the log of who read or changed whose data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from cdp.audit.models import AuditEvent
from cdp.audit.query import AuditFilter, list_events
from cdp.db import as_utc
from cdp.graphql.context import Info
from cdp.graphql.pages import PageInfo, decode_int, encode_cursor
from cdp.profiles import service
from cdp.text import check_text


@strawberry.type(description="A personal field named by an audit record, and how it was seen.")
class AuditField:
    field: str
    access: str = strawberry.field(description="full, masked, denied or write")


@strawberry.type(name="AuditEvent", description="One record of the tamper-evident audit log.")
class AuditEventType:
    row: strawberry.Private[AuditEvent]

    @strawberry.field(description="Position in the hash chain.")
    def seq(self) -> int:
        return self.row.seq

    @strawberry.field
    def occurred_at(self) -> datetime:
        return self.row.occurred_at

    @strawberry.field
    def request_id(self) -> str | None:
        return self.row.request_id

    @strawberry.field
    def actor_subject(self) -> str:
        return self.row.actor_subject

    @strawberry.field
    def actor_role(self) -> str:
        return self.row.actor_role

    @strawberry.field
    def action(self) -> str:
        return self.row.action

    @strawberry.field(description="The profile's internal surrogate id (kept after erasure).")
    def profile_surrogate_id(self) -> int | None:
        return self.row.profile_id

    @strawberry.field
    def fields(self) -> list[AuditField]:
        return [AuditField(field=f["field"], access=f["access"]) for f in self.row.fields]

    @strawberry.field
    def purpose(self) -> str | None:
        return self.row.purpose

    @strawberry.field
    def outcome(self) -> str:
        return self.row.outcome

    @strawberry.field(description="Non-personal particulars of the action.")
    def detail(self) -> JSON:
        return self.row.detail  # type: ignore[return-value]


@strawberry.type
class AuditEventPage:
    items: list[AuditEventType]
    page_info: PageInfo


@strawberry.type
class AuditQueries:
    @strawberry.field(description="Audit records, newest first; reading them is audited too.")
    async def audit_events(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        actor: str | None = None,
        profile_id: strawberry.ID | None = None,
        profile_surrogate_id: int | None = None,
        action: str | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> AuditEventPage | None:
        for name, given in (("actor", actor), ("action", action)):
            if given is not None:
                check_text(given, field=name)  # the filters are kept in the audit record
        before = decode_int(info, after, "audit")
        async with info.context.uow.session() as session:
            surrogate = profile_surrogate_id
            if profile_id is not None:
                found = await service.get_profile(session=session, public_id=profile_id)
                surrogate = found.id if found is not None else -1
            where = AuditFilter(
                actor_subject=actor,
                profile_id=surrogate,
                action=action,
                since=from_ and as_utc(from_, field="from"),
                until=to and as_utc(to, field="to"),
            )
            page = await list_events(session=session, where=where, first=first, before=before)
        filters: dict[str, Any] = {
            k: v
            for k, v in (("actor", actor), ("profileSurrogateId", surrogate), ("action", action))
            if v is not None
        }
        info.context.uow.trail.record(
            action="audit.read", detail={"filters": filters, "returned": len(page.events)}
        )
        return AuditEventPage(
            items=[AuditEventType(row=row) for row in page.events],
            page_info=PageInfo(
                end_cursor=(
                    None if page.last_seq is None else encode_cursor(info, "audit", page.last_seq)
                ),
                has_next_page=page.has_next_page,
            ),
        )
