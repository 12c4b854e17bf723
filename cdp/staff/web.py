"""What every staff sign-in route shares: the state cookie and attempt on the way to the
provider, and on the way back the attempt taken, the person vouched for, the session opened
(cookie set, browser sent to the console) or the refusal answered and audited.

The provider routes (OIDC, WeCom) supply only what differs: the provider's URL and how the
callback's code becomes a `DirectoryPerson`.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cdp.audit.actions import AuditAction
from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.config import Settings
from cdp.db import Database
from cdp.errors import CdpError, ErrorCode
from cdp.keys.source import KeyringSource
from cdp.outages import outage_of
from cdp.rate_stores import Budget, store_for
from cdp.staff.attempts import ATTEMPT_TTL, Attempt, begin_attempt, take_attempt
from cdp.staff.models import StaffProvider
from cdp.staff.sessions import DirectoryPerson, OpenedSession, open_session
from cdp.unit_of_work import audited_transaction
from cdp.wechat.outcomes import (
    NO_STORE,
    SignInFailed,
    failure_of,
    json_error,
    spend_address_budget,
    unexpected,
)
from cdp.wechat.routes import request_id_of

CONSOLE = "/console/"
STATE_COOKIE = "cdp_staff_state"
Vouch = Callable[[Request, Attempt, str], Awaitable[DirectoryPerson]]
Endpoint = Callable[[Request], Awaitable[Response]]


def provider_routes(prefix: str, authorize: Endpoint, callback: Endpoint) -> list[Route]:
    """A provider's two routes: `PREFIX/authorize` (to the provider) and `PREFIX/callback`."""
    return [
        Route(f"{prefix}/authorize", authorize, methods=["GET"]),
        Route(f"{prefix}/callback", callback, methods=["GET"]),
    ]


def session_cookie_name(settings: Settings) -> str:
    # __Host-: the browser keeps it only if Secure, for this host alone, on path /.
    return "__Host-cdp_staff" if settings.is_production else "cdp_staff"


def redirect_base(settings: Settings, request: Request) -> str:
    """Where providers send the browser back: the configured base, else this request's."""
    return settings.staff_redirect_base_url or f"{request.url.scheme}://{request.url.netloc}"


def set_session_cookie(response: Response, settings: Settings, opened: OpenedSession) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        opened.token,
        max_age=settings.staff_session_lifetime_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
    )


def refusal(request: Request, request_id: str, failed: SignInFailed) -> Response:
    """A refused sign-in: a short page for a browser, one coded error for anything else."""
    if "text/html" not in request.headers.get("accept", ""):
        return json_error(request_id, failed)
    code, reason = failed.code.value, failed.extensions.get("reason")
    particulars = f"{code}{' / ' + str(reason) if reason else ''}"
    page = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>登录失败</title>'
        f"<h1>登录失败 · Sign-in refused</h1><p>{html.escape(failed.message)}</p>"
        f"<p><code>{html.escape(particulars)}</code> · request {html.escape(request_id)}</p>"
        f'<p><a href="{CONSOLE}">返回 · Back</a></p></html>'
    )
    headers = {**NO_STORE, "x-request-id": request_id}
    if "retryAfter" in failed.extensions:
        headers["retry-after"] = str(failed.extensions["retryAfter"])
    return HTMLResponse(page, status_code=failed.status, headers=headers)


class StaffSignIn:
    """The shared steps of every provider's authorize and callback routes."""

    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        # Per client address, as WeChat sign-in: each attempt writes and may call a provider.
        self.limiter = Budget(
            settings.rate_limit_per_minute,
            name="staff_sign_in",
            store=store_for(settings, database),
        )

    def trail(
        self, request_id: str, subject: str = "staff:?", role: str | None = None
    ) -> AuditTrail:
        return AuditTrail(
            key=self.keyring.keyring.audit_key,
            actor_subject=subject,
            actor_role=role or STAFF_SIGN_IN_ROLE,
            request_id=request_id,
        )

    async def spend_budget(self, request: Request) -> None:
        await spend_address_budget(self.limiter, request, "staff:")

    async def start(
        self,
        request: Request,
        *,
        provider: StaffProvider,
        callback: str,
        provider_url: Callable[[str, str], str],
        nonce: str | None = None,
        code_verifier: str | None = None,
    ) -> Response:
        """Store an attempt, set its state cookie (scoped to `callback`) and redirect to
        `provider_url(state, redirect_uri)`."""
        request_id = request_id_of(request)
        try:
            await self.spend_budget(request)
        except SignInFailed as failed:
            return refusal(request, request_id, failed)
        async with self.database.transaction() as session:
            state = await begin_attempt(
                session=session, provider=provider, nonce=nonce, code_verifier=code_verifier
            )
        redirect_uri = redirect_base(self.settings, request) + callback
        response = RedirectResponse(
            provider_url(state, redirect_uri),
            status_code=302,
            headers={**NO_STORE, "x-request-id": request_id},
        )
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=int(ATTEMPT_TTL.total_seconds()),
            path=callback,
            httponly=True,
            # Lax, not Strict: the provider's redirect back is a cross-site top-level GET.
            samesite="lax",
            secure=self.settings.is_production or redirect_uri.startswith("https://"),
        )
        return response

    async def finish(
        self, request: Request, *, provider: StaffProvider, callback: str, vouch: Vouch
    ) -> Response:
        """The provider's redirect back: the attempt (state equal to this browser's cookie),
        `vouch` for the person, a session for them; a coded, audited refusal otherwise."""
        request_id = request_id_of(request)
        subject: str | None = None
        try:
            await self.spend_budget(request)
            async with self.database.transaction() as session:
                attempt = await take_attempt(
                    session=session,
                    provider=provider,
                    state=request.query_params.get("state", ""),
                    cookie=request.cookies.get(STATE_COOKIE),
                )
            if attempt is None:
                raise SignInFailed(
                    403,
                    ErrorCode.FORBIDDEN,
                    "Sign-in state mismatch or expired; start again",
                    reason="STATE",
                )
            redirect_uri = redirect_base(self.settings, request) + callback
            person = await vouch(request, attempt, redirect_uri)
            subject = person.subject
            opened = await self._open(request_id, person)
        except (CdpError, SignInFailed) as exc:
            failed = exc if isinstance(exc, SignInFailed) else failure_of(exc)
            response = await self._refuse(request, request_id, provider, subject, failed)
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 (cdp/availability.py)
            response = refusal(request, request_id, unexpected(exc, request_id))
        else:
            response = RedirectResponse(
                CONSOLE, status_code=303, headers={**NO_STORE, "x-request-id": request_id}
            )
            set_session_cookie(response, self.settings, opened)
        response.delete_cookie(STATE_COOKIE, path=callback)  # one use, whatever came of it
        return response

    async def _open(self, request_id: str, person: DirectoryPerson) -> OpenedSession:
        trail = self.trail(request_id, person.subject)
        async with audited_transaction(self.database, trail) as session:
            return await open_session(session=session, settings=self.settings, person=person)

    async def _refuse(
        self,
        request: Request,
        request_id: str,
        provider: StaffProvider,
        subject: str | None,
        failed: SignInFailed,
    ) -> Response:
        """Audit a refused sign-in in its own transaction, naming the person when the provider
        vouched for them (an unmapped person). Malformed requests and spent budgets are not
        audited: anyone could fill the log with them."""
        if failed.code is ErrorCode.BAD_USER_INPUT or failed.extensions.get("limit") == "rate":
            return refusal(request, request_id, failed)
        trail = self.trail(request_id, subject or f"{provider.value}:?")
        keep = ("reason", "errcode", "field")
        detail: dict[str, Any] = {k: v for k, v in failed.extensions.items() if k in keep}
        detail["provider"] = provider.value
        trail.record(
            action=AuditAction.STAFF_SIGN_IN, outcome=failed.code.value.lower(), detail=detail
        )
        try:
            async with audited_transaction(self.database, trail):
                pass
        except Exception as exc:
            if outage_of(exc):
                raise
            unexpected(exc, request_id)
        return refusal(request, request_id, failed)


def new_secret() -> str:
    """A nonce or PKCE verifier: 43 URL-safe characters (RFC 7636's recommended 32 bytes)."""
    return secrets.token_urlsafe(32)
