"""The sign-in endpoints: a mini-program's wx.login code, and an official account's OAuth web
authorisation (authorize sets a state cookie and redirects to WeChat; the callback checks it).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cdp.audit.trail import AuditTrail
from cdp.auth import Principal, Role
from cdp.config import Settings
from cdp.config_models import OAuthScope, WechatAppType
from cdp.db import Database
from cdp.errors import CdpError, ErrorCode, bad_input
from cdp.json_body import RequestRefused, read_json
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outages import outage_of
from cdp.rate_stores import Budget, store_for
from cdp.unit_of_work import audited_transaction
from cdp.wechat.client import WechatClient, WechatError
from cdp.wechat.outcomes import (
    NO_STORE,
    SignInFailed,
    failure_of,
    json_error,
    session_response,
    spend_address_budget,
    unexpected,
)
from cdp.wechat.signin import (
    SIGN_IN_ACTION,
    CustomerSession,
    VouchedIdentity,
    configured_app,
    sign_in,
)

PREFIX = "/auth/wechat"
CALLBACK = f"{PREFIX}/official-account/callback"
STATE_COOKIE = "cdp_wechat_state"
STATE_TTL_SECONDS = 600
MAX_BODY_BYTES = 4096
MAX_CODE_LENGTH = 256


class WechatSignIn:
    """The routes, sharing one WeChat client for the process."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        keystore: KeyStore,
        client: WechatClient | None = None,
    ) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self.keystore = keystore
        self.client = client or WechatClient(settings)
        # Per client address: sign-in comes before any principal, and each attempt may call
        # WeChat and write an audit record.
        self.limiter = Budget(
            settings.rate_limit_per_minute,
            name="wechat_sign_in",
            store=store_for(settings, database),
        )

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/mini-program", self.mini_program, methods=["POST"]),
            Route(f"{PREFIX}/official-account/authorize", self.authorize, methods=["GET"]),
            Route(CALLBACK, self.callback, methods=["GET"]),
        ]

    async def mini_program(self, request: Request) -> Response:
        """`{appId, code}` from wx.login -> `{token, tokenType, expiresIn, profileId}`."""
        request_id = request_id_of(request)
        app_id: str | None = None
        try:
            await self.spend_budget(request)
            app_id, code = await self.read_login(request)
            app = configured_app(self.settings, app_id, WechatAppType.MINI_PROGRAM)
            found = await self.client.code2session(app_id=app_id, app=app, code=code)
            # found.session_key stays here: nothing in cdp needs it yet, and it never leaves.
            identity = VouchedIdentity(
                app_id, WechatAppType.MINI_PROGRAM, found.open_id, found.union_id
            )
            session = await self.sign_in_as(request_id, identity)
        except (CdpError, WechatError) as exc:
            return await self.refuse(request_id, app_id, failure_of(exc))
        except SignInFailed as exc:
            return json_error(request_id, exc)
        except Exception as exc:
            if outage_of(exc):
                raise  # 503, as every route answers a database outage (cdp/availability.py)
            return json_error(request_id, unexpected(exc, request_id))
        return session_response(request_id, session)

    async def authorize(self, request: Request) -> Response:
        """Set a one-time state cookie and send the browser to WeChat's authorisation page."""
        request_id = request_id_of(request)
        app_id = request.query_params.get("appId")
        try:
            await self.spend_budget(request)
            app = configured_app(self.settings, app_id, WechatAppType.OFFICIAL_ACCOUNT)
        except CdpError as exc:
            return json_error(request_id, failure_of(exc))
        except SignInFailed as exc:
            return json_error(request_id, exc)
        assert app_id is not None
        state = secrets.token_urlsafe(24)
        base = (
            self.settings.wechat_redirect_base_url or f"{request.url.scheme}://{request.url.netloc}"
        )
        query = urlencode(
            {
                "appid": app_id,
                "redirect_uri": f"{base}{CALLBACK}?{urlencode({'appId': app_id})}",
                "response_type": "code",
                "scope": app.oauth_scope.value,
                "state": state,
            }
        )
        response = RedirectResponse(
            f"{self.settings.wechat_authorize_url}?{query}#wechat_redirect",
            status_code=302,
            headers={**NO_STORE, "x-request-id": request_id},
        )
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=STATE_TTL_SECONDS,
            path=CALLBACK,
            httponly=True,
            samesite="lax",
            secure=self.settings.is_production or base.startswith("https://"),
        )
        return response

    async def callback(self, request: Request) -> Response:
        """WeChat's redirect back: state must equal the cookie; the session goes to the page in
        the URL fragment (never sent to a server, so never in an access log)."""
        request_id = request_id_of(request)
        params = request.query_params
        app_id = params.get("appId")
        try:
            await self.spend_budget(request)
            app = configured_app(self.settings, app_id, WechatAppType.OFFICIAL_ACCOUNT)
            assert app_id is not None
            expected, given = request.cookies.get(STATE_COOKIE, ""), params.get("state", "")
            if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
                raise SignInFailed(
                    403, ErrorCode.FORBIDDEN, "Sign-in state mismatch; start again", reason="STATE"
                )
            code = params.get("code", "")
            if not code:  # the person declined snsapi_userinfo
                raise SignInFailed(401, ErrorCode.UNAUTHENTICATED, "Authorisation was declined")
            grant = await self.client.oauth_grant(app_id=app_id, app=app, code=checked_code(code))
            union_id = grant.union_id
            if union_id is None and app.oauth_scope is OAuthScope.USERINFO:
                union_id = await self.client.userinfo_union_id(grant)
            identity = VouchedIdentity(
                app_id,
                WechatAppType.OFFICIAL_ACCOUNT,
                grant.open_id,
                union_id,
                scope=grant.scope or app.oauth_scope.value,
            )
            session = await self.sign_in_as(request_id, identity)
        except (CdpError, WechatError, SignInFailed) as exc:
            failed = exc if isinstance(exc, SignInFailed) else failure_of(exc)
            if failed.extensions.get("limit") == "rate":  # not audited: it would flood the log
                response = json_error(request_id, failed)
            else:
                response = await self.refuse(request_id, app_id, failed)
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 (cdp/availability.py); the state cookie stays for a retry
            response = json_error(request_id, unexpected(exc, request_id))
        else:
            fragment = urlencode({"token": session.token, "expiresIn": session.expires_in})
            response = RedirectResponse(
                f"/h5/?{urlencode({'appId': app_id})}#{fragment}",
                status_code=303,
                headers={**NO_STORE, "x-request-id": request_id},
            )
        response.delete_cookie(STATE_COOKIE, path=CALLBACK)  # one use, whatever came of it
        return response

    async def spend_budget(self, request: Request) -> None:
        await spend_address_budget(self.limiter, request)

    async def read_login(self, request: Request) -> tuple[str, str]:
        try:  # never more than MAX_BODY_BYTES in memory
            body = await read_json(
                request, limit=MAX_BODY_BYTES, max_depth=self.settings.max_json_depth
            )
        except RequestRefused as exc:  # 400 here, whatever the reason (the sign-in table)
            message = "The request body is too large" if exc.limit == "body" else exc.message
            raise bad_input(message, field=exc.field) from None
        if not isinstance(body, dict):
            raise bad_input("The request body must be a JSON object")
        app_id, code = body.get("appId"), body.get("code")
        if not isinstance(app_id, str) or not app_id:
            raise bad_input("appId is required", field="appId")
        if not isinstance(code, str) or not code:
            raise bad_input("code is required", field="code")
        return app_id, checked_code(code)

    async def sign_in_as(self, request_id: str, identity: VouchedIdentity) -> CustomerSession:
        trail = self._trail(request_id, identity.app_id)
        async with audited_transaction(self.database, trail) as db_session:
            return await sign_in(
                session=db_session,
                vault=Vault(self.keyring, self.keystore),
                settings=self.settings,
                identity=identity,
            )

    def _trail(self, request_id: str, app_id: str | None) -> AuditTrail:
        # The app acts until the sign-in names the customer (AuditTrail.continue_as).
        app = f"wechat:{app_id if app_id in self.settings.wechat_apps else '?'}"
        return AuditTrail.of(
            Principal(subject=app, role=Role.CUSTOMER),
            key=self.keyring.keyring.audit_key,
            request_id=request_id,
        )

    async def refuse(self, request_id: str, app_id: str | None, failed: SignInFailed) -> Response:
        """Audit a refused sign-in (in its own transaction: the work was rolled back). Malformed
        requests are not: anyone could fill the audit log with them."""
        if failed.code is ErrorCode.BAD_USER_INPUT:
            return json_error(request_id, failed)
        trail = self._trail(request_id, app_id)
        detail = {k: v for k, v in failed.extensions.items() if k in ("reason", "errcode", "field")}
        trail.record(action=SIGN_IN_ACTION, outcome=failed.code.value.lower(), detail=detail)
        try:
            async with audited_transaction(self.database, trail):
                pass
        except Exception as exc:
            unexpected(exc, request_id)
        return json_error(request_id, failed)


def checked_code(code: str) -> str:
    if len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isprintable():
        raise bad_input("code is not a WeChat code", field="code")
    return code


def request_id_of(request: Request) -> str:
    """The id the request-logging middleware gave this request, else a fresh one."""
    given = getattr(request.state, "request_id", None)
    return given if isinstance(given, str) else secrets.token_hex(16)
