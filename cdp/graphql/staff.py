"""Staff sessions for compliance: who is signed in (`staffSessions`), and ending one session
or all of a person's (`revokeStaffSessions`), effective at their next request everywhere."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import strawberry

from cdp.audit.actions import AuditRole
from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.enums import expose
from cdp.graphql.objects import object_type
from cdp.graphql.pages import (
    DEFAULT_FIRST,
    After,
    First,
    Page,
    id_page,
)
from cdp.staff.desk import person_of
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import live_sessions, revoke, roles_of, staff_subject

LIST = "staff-sessions"
MAX_SESSION_ID = 32

expose(
    StaffProvider,
    "StaffProvider",
    "Who vouched for a signed-in staff member.",
    {
        StaffProvider.OIDC: "The company's OpenID Connect provider.",
        StaffProvider.WECOM: "企业微信 (WeCom), the company's directory.",
        StaffProvider.DEVELOPMENT: "The development sign-in of `make run` (never in production).",
    },
)


@object_type("StaffSession", description="A live staff session: one signed-in person, one browser.")
class StaffSessionType:
    id: strawberry.ID = strawberry.field(description="The session's public id (never its secret).")
    person: str = strawberry.field(
        description="Who: `provider:directory id`, as the audit log names them."
    )
    provider: StaffProvider = strawberry.field(description="Who vouched for them.")
    role: AuditRole | None = strawberry.field(
        description="The role the session acts in; null until one of several is chosen."
    )
    roles: list[AuditRole] = strawberry.field(
        description="The roles the directory gave them at sign-in (or its last recheck)."
    )
    created_at: datetime = strawberry.field(description="When they signed in (UTC).")
    last_seen_at: datetime = strawberry.field(description="Their last request (UTC, to a minute).")
    expires_at: datetime = strawberry.field(
        description="When the session ends whatever happens (UTC)."
    )

    @classmethod
    def of(cls, row: StaffSession) -> StaffSessionType:
        return cls(
            id=strawberry.ID(row.public_id),
            person=staff_subject(row.provider, row.directory_id),
            provider=row.provider,
            role=AuditRole(row.role) if row.role else None,
            roles=[AuditRole(role.value) for role in roles_of(row)],
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
        )


@object_type("StaffSessionPage", description="One page of live staff sessions.")
class StaffSessionPage(Page[StaffSessionType]):
    pass


@strawberry.input(description="Exactly one of: the session to end, or the person to sign out.")
class RevokeStaffSessionsInput:
    session_id: strawberry.ID | None = strawberry.field(
        default=None, description="StaffSession.id: end this one session."
    )
    person: str | None = strawberry.field(
        default=None,
        description="StaffSession.person (e.g. `wecom:zhangsan`): end all of their sessions.",
    )


@strawberry.type
class StaffQueries:
    @strawberry.field(
        description="Live staff sessions (not ended, idle or past their lifetime), newest "
        "first. Compliance role only."
    )
    async def staff_sessions(
        self, info: Info, first: First = DEFAULT_FIRST, after: After = None
    ) -> StaffSessionPage | None:
        live = partial(live_sessions, settings=info.context.settings)
        page, page_info = await id_page(info, LIST, first, after, live)
        info.context.uow.trail.record(action="staff.list", detail={"returned": len(page)})
        return StaffSessionPage(
            items=[StaffSessionType.of(row) for row in page], page_info=page_info
        )


@strawberry.type
class StaffMutations:
    @strawberry.mutation(
        description="End one staff session or every live one of a person, at their next "
        "request on every worker; returns how many ended. Compliance role only."
    )
    async def revoke_staff_sessions(
        self, info: Info, input: RevokeStaffSessionsInput
    ) -> int | None:
        officer = info.context.principal.subject
        async with info.context.uow.atomic("staff.revoke") as session:
            if (input.session_id is None) == (input.person is None):
                raise bad_input("give exactly one of sessionId, person")
            if input.session_id is not None:
                if len(input.session_id) > MAX_SESSION_ID:
                    raise bad_input("sessionId is not a staff session id", field="sessionId")
                named = {"session": str(input.session_id)}
                ended = await revoke(session=session, by=officer, public_id=named["session"])
            else:
                person = person_of(input.person or "")
                named = {"person": staff_subject(*person)}
                ended = await revoke(session=session, by=officer, person=person)
            if not ended:  # nothing was live: the attempt is on the record all the same
                info.context.uow.trail.record(action="staff.revoke", detail={**named, "ended": 0})
        return ended
