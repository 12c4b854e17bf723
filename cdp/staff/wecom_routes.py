"""Staff sign-in with WeCom (企业微信): inside the WeCom app by web authorisation (snsapi_base,
silent), on a desktop browser by the QR sign-in page (wwlogin). The callback's code becomes
the member's userid, their departments and tags become roles through the role map.

`WecomSignIn.recheck` is WeCom's `DirectoryCheck`: a session's person asked about again.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.config import Settings
from cdp.config_models import StaffWecom
from cdp.db import Database
from cdp.errors import ErrorCode, bad_input
from cdp.keys.source import KeyringSource
from cdp.roles import Role
from cdp.staff.attempts import Attempt
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import DirectoryPerson
from cdp.staff.web import StaffSignIn, provider_routes
from cdp.staff.wecom import Member, WecomClient, WecomError, WecomFailure
from cdp.wechat.outcomes import SignInFailed, json_error
from cdp.wechat.routes import request_id_of

PREFIX = "/auth/staff/wecom"
CALLBACK = f"{PREFIX}/callback"
MAX_CODE_LENGTH = 512  # WeCom's documented maximum
IN_APP_MARKER = "wxwork"  # in the User-Agent of WeCom's built-in browser

# WeCom's outcome -> (HTTP status, contract code, message, Retry-After seconds).
WECOM_OUTCOMES: dict[WecomFailure, tuple[int, ErrorCode, str, int | None]] = {
    WecomFailure.CODE_INVALID: (
        401,
        ErrorCode.UNAUTHENTICATED,
        "WeCom rejected the sign-in code (expired or used); sign in again",
        None,
    ),
    WecomFailure.NOT_A_MEMBER: (
        403,
        ErrorCode.FORBIDDEN,
        "You are not a member of the company's WeCom",
        None,
    ),
    WecomFailure.USER_NOT_FOUND: (
        403,
        ErrorCode.FORBIDDEN,
        "WeCom does not know you as a member of the company",
        None,
    ),
    WecomFailure.USER_DISABLED: (
        403,
        ErrorCode.FORBIDDEN,
        "Your WeCom account is disabled, not yet activated or has left the company",
        None,
    ),
    WecomFailure.NOT_VISIBLE: (
        403,
        ErrorCode.FORBIDDEN,
        "You are outside the cdp app's visibility range in WeCom; ask its administrator",
        None,
    ),
    # As cdp's own rate limit answers: 429, QUERY_TOO_COMPLEX, Retry-After.
    WecomFailure.RATE_LIMITED: (
        429,
        ErrorCode.QUERY_TOO_COMPLEX,
        "WeCom is limiting calls; try again in a minute",
        60,
    ),
    WecomFailure.BUSY: (503, ErrorCode.INTERNAL, "WeCom is busy; try again shortly", 5),
    WecomFailure.TIMEOUT: (503, ErrorCode.INTERNAL, "WeCom did not answer in time", 5),
    WecomFailure.UPSTREAM: (502, ErrorCode.INTERNAL, "WeCom's answer could not be used", None),
}
# A recheck that meets these cannot tell whether the person is still there.
UNAVAILABLE = frozenset(
    {WecomFailure.RATE_LIMITED, WecomFailure.BUSY, WecomFailure.TIMEOUT, WecomFailure.UPSTREAM}
)


class WecomUnavailable(Exception):
    """WeCom could not be asked about a session's person (busy, limited, slow or unusable):
    answer 503 with `retry_after` seconds, and keep the session as it was."""

    def __init__(self, failure: WecomFailure, retry_after: int = 5) -> None:
        super().__init__(failure.value)
        self.failure, self.retry_after = failure, retry_after


def wecom_failure(exc: WecomError) -> SignInFailed:
    status, code, message, retry_after = WECOM_OUTCOMES[exc.failure]
    extra: dict[str, object] = {"reason": exc.failure.value}
    if exc.errcode is not None:
        extra["errcode"] = exc.errcode
    if retry_after is not None:
        extra["retryAfter"] = retry_after
    return SignInFailed(status, code, message, **extra)


def not_configured(request: Request) -> Response:
    failed = SignInFailed(
        404, ErrorCode.NOT_FOUND, "WeCom sign-in is not configured", reason="NOT_CONFIGURED"
    )
    return json_error(request_id_of(request), failed)


class WecomSignIn:
    """The WeCom routes and directory check, sharing one WeCom client for the process."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        staff: StaffSignIn | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.app: StaffWecom | None = settings.staff_wecom
        self.staff = staff or StaffSignIn(settings, database, keyring)
        self.client = (
            WecomClient(settings, self.app, database, keyring, transport) if self.app else None
        )

    def routes(self) -> list[Route]:
        return provider_routes(PREFIX, self.authorize, self.callback)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def authorize(self, request: Request) -> Response:
        """Inside WeCom: silent web authorisation; elsewhere: the QR sign-in page."""
        app = self.app
        if app is None:
            return not_configured(request)
        in_app = IN_APP_MARKER in request.headers.get("user-agent", "").lower()

        def provider_url(state: str, redirect_uri: str) -> str:
            if in_app:
                query = urlencode(
                    {
                        "appid": app.corp_id,
                        "redirect_uri": redirect_uri,
                        "response_type": "code",
                        "scope": "snsapi_base",
                        "state": state,
                        "agentid": app.agent_id,
                    }
                )
                return f"{self.settings.wecom_authorize_url}?{query}#wechat_redirect"
            query = urlencode(
                {
                    "login_type": "CorpApp",
                    "appid": app.corp_id,
                    "agentid": app.agent_id,
                    "redirect_uri": redirect_uri,
                    "state": state,
                }
            )
            return f"{self.settings.wecom_sso_url}?{query}"

        return await self.staff.start(
            request, provider=StaffProvider.WECOM, callback=CALLBACK, provider_url=provider_url
        )

    async def callback(self, request: Request) -> Response:
        if self.app is None:
            return not_configured(request)
        return await self.staff.finish(
            request, provider=StaffProvider.WECOM, callback=CALLBACK, vouch=self.vouch
        )

    async def vouch(self, request: Request, _attempt: Attempt, _redirect: str) -> DirectoryPerson:
        """The member behind the callback's code, with the roles the role map gives them."""
        code = request.query_params.get("code", "")
        if not code:  # WeCom's QR page sends the browser back without one when declined
            raise SignInFailed(
                401, ErrorCode.UNAUTHENTICATED, "The WeCom sign-in was declined", reason="DECLINED"
            )
        if len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isprintable():
            raise bad_input("code is not a WeCom code", field="code")
        assert self.client is not None
        try:
            userid = await self.client.user_id_for_code(code)
            roles = await self._roles_of(await self.client.member(userid))
        except WecomError as exc:
            raise wecom_failure(exc) from None
        return DirectoryPerson(StaffProvider.WECOM, userid, roles)

    async def recheck(self, row: StaffSession) -> tuple[tuple[Role, ...] | None, str | None]:
        """The directory's answer for a session (`DirectoryCheck`): (None, None) when the
        person left, is disabled or is outside the app's range; else (roles now, None).
        Raises `WecomUnavailable` when WeCom cannot say."""
        if self.client is None:
            return None, None  # WeCom sign-in was switched off: its sessions end
        try:
            member = await self.client.member(row.directory_id)
            return await self._roles_of(member), None
        except WecomError as exc:
            if exc.failure in UNAVAILABLE:
                raise WecomUnavailable(exc.failure, WECOM_OUTCOMES[exc.failure][3] or 5) from None
            return None, None

    async def _roles_of(self, member: Member) -> tuple[Role, ...]:
        assert self.client is not None
        role_map = self.settings.staff_role_map
        tags = await self.client.tags_of(member, role_map.wecom_tags.keys())
        return role_map.roles_for(departments=member.departments, tags=tags)
