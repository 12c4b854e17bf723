"""Who a request is, from whatever it carries: a bearer token (a customer's signed token, a
service account's token from `POST /auth/token`, or in development a token of `cdp token`)
or a staff session cookie with its anti-CSRF header.

A staff session is looked up on every request, so a revocation or sign-out is effective at
the very next request on every worker and instance. It ends when idle or past its lifetime,
and when the directory, asked again every `staff_directory_recheck_seconds`, no longer has
the person or gives them the role in use.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime

from starlette.requests import Request

from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import Credential, Principal, Role, principal_from_header, unauthenticated
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.errors import CdpError, ErrorCode
from cdp.keys.source import KeyringSource
from cdp.staff.directory import (
    DirectoryCheck,
    claim_recheck,
    directory_answered,
    recheck_due,
    release_recheck,
)
from cdp.staff.models import SessionEnd, StaffProvider, StaffSession
from cdp.staff.service_accounts import SERVICE_TOKEN_PREFIX, service_principal
from cdp.staff.sessions import (
    csrf_token_of,
    end_session,
    find_session,
    staff_subject,
    touch,
    why_ended,
)
from cdp.staff.web import session_cookie_name
from cdp.unit_of_work import audited_transaction

log = logging.getLogger("cdp.staff")
CSRF_HEADER = "x-cdp-csrf"
ENDED = {
    SessionEnd.SIGNED_OUT: "This staff session was signed out; sign in again",
    SessionEnd.REVOKED: "This staff session was revoked; sign in again",
    SessionEnd.IDLE: "This staff session was idle too long; sign in again",
    SessionEnd.EXPIRED: "This staff session reached its lifetime; sign in again",
    SessionEnd.DIRECTORY: "The directory no longer gives you this role; sign in again",
}


class DirectoryUnavailable(Exception):
    """The directory could not be asked about a session that is due: answered 503 with
    Retry-After (never served unchecked, never ended for an outage)."""


def session_refused(message: str, reason: str) -> CdpError:
    return CdpError(ErrorCode.UNAUTHENTICATED, message, reason=reason)


class Credentials:
    """Turns a request into a `Principal`; `checks` ask each provider's directory again."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        checks: Mapping[str, DirectoryCheck] | None = None,
    ) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.checks: dict[str, DirectoryCheck] = dict(checks or {})

    def add_check(self, provider: str, check: DirectoryCheck) -> None:
        self.checks[provider] = check

    def staff_cookie(self, request: Request) -> str | None:
        return request.cookies.get(session_cookie_name(self.settings))

    async def principal_of(self, request: Request) -> Principal:
        """The request's principal; UNAUTHENTICATED (or FORBIDDEN: CSRF, no role chosen yet)
        otherwise. A bearer token, when present, is what counts."""
        header = request.headers.get("authorization")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip().startswith(SERVICE_TOKEN_PREFIX):
                async with self.database.transaction() as session:
                    found = await service_principal(session=session, token=token.strip())
                if found is None:
                    raise unauthenticated("Invalid, expired or revoked service token")
                return found
            return principal_from_header(self.settings, header)
        cookie = self.staff_cookie(request)
        if cookie:
            return await self.staff_principal(request, cookie)
        raise unauthenticated("Missing bearer token or staff session")

    async def staff_principal(self, request: Request, token: str) -> Principal:
        """The signed-in person acting in their session's role. Every request carries the
        session's anti-CSRF token in `X-CDP-CSRF` (a page on another site can send the
        cookie, never the header)."""
        given = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(given.encode(), csrf_token_of(token).encode()):
            raise CdpError(
                ErrorCode.FORBIDDEN,
                f"A staff session needs its {CSRF_HEADER} header",
                reason="CSRF",
            )
        return self._acting(await self.live_session(request, token))

    async def live_session(self, request: Request, token: str) -> StaffSession:
        """The cookie's session while it may act, its directory asked again when due (by one
        request); UNAUTHENTICATED, with the reason, once it may not. A use keeps it alive."""
        now = utcnow()
        async with self.database.transaction() as session:
            row = await find_session(session=session, token=token)
            if row is None:
                raise session_refused("Unknown staff session; sign in again", "UNKNOWN_SESSION")
            ended = why_ended(row, self.settings, now)
            claimed = (
                ended is None
                and recheck_due(row, self.settings, now)
                and await claim_recheck(session=session, row=row, now=now)
            )
            if ended is None and not claimed:
                # Not due, or another request holds the recheck: the last answer stands.
                await touch(session=session, row=row, now=now)
                return row
        if ended is not None:
            await self.end(request, row, ended)
            raise session_refused(ENDED[ended], ended.value.upper())
        return await self._recheck(request, row, claimed_at=now)

    def _acting(self, row: StaffSession) -> Principal:
        if row.role is None:
            raise CdpError(
                ErrorCode.FORBIDDEN,
                "Choose the role to act in first (POST /auth/staff/role)",
                reason="ROLE_NOT_CHOSEN",
            )
        return Principal(
            subject=staff_subject(row.provider, row.directory_id),
            role=Role(row.role),
            credential=Credential.SESSION,
        )

    def _trail(self, request: Request, row: StaffSession) -> AuditTrail:
        return AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=staff_subject(row.provider, row.directory_id),
            actor_role=row.role or STAFF_SIGN_IN_ROLE,
            request_id=getattr(request.state, "request_id", None),
        )

    async def end(
        self, request: Request, row: StaffSession, reason: SessionEnd, *, by: str | None = None
    ) -> None:
        """End a session for `reason`, audited in its own transaction, once: a session
        already ended keeps its first reason."""
        if row.ended_reason is not None:
            return
        async with audited_transaction(self.database, self._trail(request, row)) as session:
            fresh = await session.get(StaffSession, row.id)
            if fresh is not None:
                await end_session(session=session, row=fresh, reason=reason, by=by)

    async def _recheck(
        self, request: Request, row: StaffSession, *, claimed_at: datetime
    ) -> StaffSession:
        """Ask the directory (outside any transaction: it is a call to another service),
        then record its answer; the session ends when it says no. `row` is as read before
        the claim (its `checked_at` the previous answer's time)."""
        check = self.checks.get(row.provider.value)
        if check is None:  # a development session, or a provider no longer configured
            answer: tuple[tuple[Role, ...] | None, str | None] = (
                (tuple(Role(r) for r in row.roles.split(",")), None)
                if row.provider is StaffProvider.DEVELOPMENT
                else (None, None)
            )
        else:
            try:
                answer = await check.recheck(row)
            except Exception as exc:
                log.warning(
                    "directory unavailable for a session recheck",
                    extra={"provider": row.provider.value, "error_type": type(exc).__name__},
                )
                async with self.database.transaction() as session:
                    await release_recheck(session=session, row=row, claimed_at=claimed_at)
                raise DirectoryUnavailable(row.provider.value) from None
        roles, grant = answer
        async with audited_transaction(self.database, self._trail(request, row)) as session:
            fresh = await session.get(StaffSession, row.id, populate_existing=True)
            if fresh is None or fresh.ended_reason is not None:
                ended = (fresh.ended_reason if fresh else None) or SessionEnd.REVOKED
                raise session_refused(ENDED[ended], ended.value.upper())
            now = utcnow()
            if await directory_answered(
                session=session, row=fresh, roles=roles, now=now, grant=grant
            ):
                outcome = SessionEnd.DIRECTORY
            else:
                await touch(session=session, row=fresh, now=now)
                return fresh
        raise session_refused(ENDED[outcome], outcome.value.upper())
