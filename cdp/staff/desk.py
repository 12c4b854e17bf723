"""What a staff session does once it exists: the console reads it (`GET /auth/staff/session`),
the person chooses their role (`POST /auth/staff/role`) and signs out
(`POST /auth/staff/logout`); and, in development only, `POST /auth/staff/dev` opens a session
for any staff role so that `make run` lets a developer act as each.

Writes are protected against CSRF twice over: the cookie is SameSite=Strict, and each write
carries the session's anti-CSRF token, in the `X-CDP-CSRF` header (fetch) or a `csrf` form
field (the console's forms). A browser's form post is answered 303 to the console, anything
else with JSON; refusals are coded errors, never a 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cdp.audit.actions import AuditAction
from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import Role
from cdp.availability import unavailable_response
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.errors import CdpError, bad_input
from cdp.keys.source import KeyringSource
from cdp.outages import outage_of
from cdp.staff.credentials import Credentials, DirectoryUnavailable, session_refused
from cdp.staff.forms import (
    check_csrf,
    check_same_origin,
    one_field,
    page_refusal,
    read_form,
    wants_page,
)
from cdp.staff.models import SessionEnd, StaffProvider, StaffSession
from cdp.staff.sessions import (
    SESSION_ROLES,
    DirectoryPerson,
    choose_role,
    csrf_token_of,
    find_session,
    open_session,
    roles_of,
    staff_subject,
    why_ended,
)
from cdp.staff.web import CONSOLE, clear_session_cookie, session_cookie_name, set_session_cookie
from cdp.unit_of_work import audited_transaction
from cdp.wechat.outcomes import NO_STORE, failure_of, json_error, unexpected
from cdp.wechat.routes import request_id_of

PREFIX = "/auth/staff"
DIRECTORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
Handler = Callable[[Request], Awaitable[Response]]


def person_of(text: str) -> tuple[StaffProvider, str]:
    """`wecom:zhangsan` -> (WECOM, "zhangsan"); BAD_USER_INPUT for anything else."""
    provider, _, directory_id = text.strip().partition(":")
    known = {p.value: p for p in StaffProvider}
    if provider not in known or not directory_id or len(directory_id) > 96:
        raise bad_input(
            f"a person is provider:directory id, the provider one of {', '.join(known)}",
            field="person",
        )
    return known[provider], directory_id


def staff_roles(names: list[str]) -> tuple[Role, ...]:
    """The staff roles named in a form, in `Role` order; BAD_USER_INPUT for any other."""
    allowed = sorted(role.value for role in SESSION_ROLES)
    if not names or any(name not in allowed for name in names):
        raise bad_input(f"role must be one of {', '.join(allowed)}", field="role")
    return tuple(role for role in Role if role.value in names)


def session_view(settings: Settings, row: StaffSession, token: str) -> dict[str, Any]:
    """What the console shows of a session, with the token its writes carry."""
    return {
        "id": row.public_id,
        "person": staff_subject(row.provider, row.directory_id),
        "provider": row.provider.value,
        "roles": [role.value for role in roles_of(row)],
        "role": row.role,
        "csrfToken": csrf_token_of(token),
        "expiresAt": row.expires_at.isoformat(),
        "idleTimeoutSeconds": settings.staff_idle_timeout_seconds,
    }


class StaffDesk:
    """The routes of a signed-in (or signing-in) person's own session."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        credentials: Credentials | None = None,
    ) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.credentials = credentials or Credentials(settings, database, keyring)

    def routes(self) -> list[Route]:
        routes = [
            Route(f"{PREFIX}/session", self.coded(self.session), methods=["GET"]),
            Route(f"{PREFIX}/role", self.coded(self.role), methods=["POST"]),
            Route(f"{PREFIX}/logout", self.coded(self.logout), methods=["POST"]),
        ]
        if not self.settings.is_production:  # production has no such route: 404, coded
            routes.append(Route(f"{PREFIX}/dev", self.coded(self.dev_sign_in), methods=["POST"]))
        return routes

    def coded(self, handler: Handler) -> Handler:
        async def answer(request: Request) -> Response:
            request_id = request_id_of(request)
            try:
                response = await handler(request)
            except CdpError as exc:
                failed = failure_of(exc)
            except DirectoryUnavailable:
                return unavailable_response(
                    "DIRECTORY_UNAVAILABLE",
                    "The staff directory could not be asked about this session; try again",
                    request_id,
                )
            except Exception as exc:
                if outage_of(exc):
                    raise  # 503 with Retry-After (cdp/availability.py)
                failed = unexpected(exc, request_id)
            else:
                response.headers.update({**NO_STORE, "x-request-id": request_id})
                return response
            if wants_page(request):
                return page_refusal(request_id, failed)
            return json_error(request_id, failed)

        return answer

    def done(self, request: Request, body: dict[str, Any]) -> Response:
        if wants_page(request):
            return RedirectResponse(CONSOLE, status_code=303)
        return JSONResponse(body)

    def trail(self, request: Request, subject: str, role: str | None) -> AuditTrail:
        return AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=subject,
            actor_role=role or STAFF_SIGN_IN_ROLE,
            request_id=request_id_of(request),
        )

    def row_trail(self, request: Request, row: StaffSession) -> AuditTrail:
        return self.trail(request, staff_subject(row.provider, row.directory_id), row.role)

    def cookie(self, request: Request) -> str | None:
        return request.cookies.get(session_cookie_name(self.settings)) or None

    async def live(self, request: Request, token: str | None) -> StaffSession:
        """The cookie's session while it may act, refused as `/graphql` refuses it (unknown,
        signed out, revoked, idle, expired, dropped by the directory); a use keeps it alive."""
        if token is None:
            raise session_refused("No staff session; sign in first", "NO_SESSION")
        return await self.credentials.live_session(request, token)

    async def session(self, request: Request) -> Response:
        """The cookie's session for the console; 401 (coded, with its reason) without one."""
        token = self.cookie(request)
        row = await self.live(request, token)
        return JSONResponse(session_view(self.settings, row, token or ""))

    async def role(self, request: Request) -> Response:
        """`role=support`: the role a session of several roles acts in, chosen once."""
        token = self.cookie(request)
        if token is None:
            raise session_refused("No staff session; sign in first", "NO_SESSION")
        form = await read_form(request)
        check_csrf(request, token, form)
        [role] = staff_roles([one_field(form, "role") or ""])
        row = await self.live(request, token)
        try:
            async with audited_transaction(self.database, self.row_trail(request, row)) as db:
                # Locked: of two choices at once, the second finds the first (CONFLICT).
                fresh = await db.get(StaffSession, row.id, with_for_update=True)
                assert fresh is not None  # sessions are never deleted
                await choose_role(session=db, row=fresh, role=role)
        except CdpError as exc:
            trail = self.row_trail(request, row)
            trail.record(
                action=AuditAction.STAFF_ROLE,
                outcome=exc.code.value.lower(),
                detail={"session": row.public_id, "role": role.value},
            )
            async with audited_transaction(self.database, trail):
                pass
            raise
        return self.done(request, session_view(self.settings, fresh, token))

    async def logout(self, request: Request) -> Response:
        """End the cookie's session and clear the cookie; without one, clear it all the same."""
        token = self.cookie(request)
        ended = False
        if token is not None:
            check_csrf(request, token, await read_form(request))
            async with self.database.transaction() as session:
                row = await find_session(session=session, token=token)
            if row is not None and row.ended_reason is None:
                reason = why_ended(row, self.settings, utcnow()) or SessionEnd.SIGNED_OUT
                by = staff_subject(row.provider, row.directory_id)  # they signed out
                await self.credentials.end(request, row, reason, by=by)
                ended = True
        response = self.done(request, {"signedOut": ended})
        clear_session_cookie(response, self.settings)
        return response

    async def dev_sign_in(self, request: Request) -> Response:
        """Development only: a session for `directoryId` (default `dev-<role>`) holding each
        `role` given, from this site only. Audited as every sign-in."""
        check_same_origin(request, self.settings)
        form = await read_form(request)
        roles = staff_roles(form.get("role", []))
        directory_id = one_field(form, "directoryId") or "dev-" + "-".join(roles)
        if not DIRECTORY_ID.fullmatch(directory_id):
            raise bad_input("directoryId is 1-64 letters, digits and . _ @ -", field="directoryId")
        person = DirectoryPerson(StaffProvider.DEVELOPMENT, directory_id, roles)
        trail = self.trail(request, person.subject, None)
        async with audited_transaction(self.database, trail) as session:
            opened = await open_session(session=session, settings=self.settings, person=person)
            row = await find_session(session=session, token=opened.token)
        assert row is not None
        response = self.done(request, session_view(self.settings, row, opened.token))
        set_session_cookie(response, self.settings, opened)
        return response
