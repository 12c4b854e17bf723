"""Website sign-in by WeChat QR (Open Platform website apps, qrconnect, snsapi_login):
authorize sends the browser to WeChat's QR page with a signed, one-use, five-minute state
(cdp/wechat/website_state.py) also set as a cookie; the callback checks and spends it,
exchanges the code (sns/oauth2/access_token, sns/userinfo when the UnionID is not in the
answer) and signs the person in on the WEB channel, one profile with their mini-program and
official-account identities by UnionID. The session goes to the app's `return_url` in the
URL fragment, as the official account's callback does.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cdp.config_models import WechatApp, WechatAppType
from cdp.errors import CdpError, ErrorCode
from cdp.outages import outage_of
from cdp.wechat.client import WechatError
from cdp.wechat.outcomes import NO_STORE, SignInFailed, failure_of, json_error, unexpected
from cdp.wechat.routes import PREFIX, WechatSignIn, checked_code, request_id_of
from cdp.wechat.signin import CustomerSession, VouchedIdentity, configured_app
from cdp.wechat.website_state import STATE_TTL_SECONDS, check_state, issue_state, spend_state

WEBSITE_CALLBACK = f"{PREFIX}/website/callback"
WEBSITE_STATE_COOKIE = "cdp_wechat_web_state"
SCOPE = "snsapi_login"
DEFAULT_RETURN = "/h5/"


class WechatWebsiteSignIn:
    """The website routes, on the WeChat sign-in's client, rate limit and audit."""

    def __init__(self, base: WechatSignIn) -> None:
        self.base, self.settings = base, base.settings

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/website/authorize", self.authorize, methods=["GET"]),
            Route(WEBSITE_CALLBACK, self.callback, methods=["GET"]),
        ]

    async def authorize(self, request: Request) -> Response:
        """`?appId=` (a WEBSITE app) -> 302 to WeChat's QR page; the state cookie is set."""
        request_id = request_id_of(request)
        app_id = request.query_params.get("appId")
        try:
            await self.base.spend_budget(request)
            configured_app(self.settings, app_id, WechatAppType.WEBSITE)
        except CdpError as exc:
            return json_error(request_id, failure_of(exc))
        except SignInFailed as exc:
            return json_error(request_id, exc)
        assert app_id is not None
        state = issue_state(self.settings, app_id=app_id)
        base = self._redirect_base(request)
        query = urlencode(
            {
                "appid": app_id,
                "redirect_uri": f"{base}{WEBSITE_CALLBACK}?{urlencode({'appId': app_id})}",
                "response_type": "code",
                "scope": SCOPE,
                "state": state,
            }
        )
        response = RedirectResponse(
            f"{self.settings.wechat_qrconnect_url}?{query}#wechat_redirect",
            status_code=302,
            headers={**NO_STORE, "x-request-id": request_id},
        )
        response.set_cookie(
            WEBSITE_STATE_COOKIE,
            state,
            max_age=STATE_TTL_SECONDS,
            path=WEBSITE_CALLBACK,
            httponly=True,
            samesite="lax",
            secure=self.settings.is_production or base.startswith("https://"),
        )
        return response

    async def callback(self, request: Request) -> Response:
        """WeChat's redirect back with `code` and `state` (no code: the person declined)."""
        request_id = request_id_of(request)
        params = request.query_params
        app_id = params.get("appId")
        try:
            await self.base.spend_budget(request)
            app = configured_app(self.settings, app_id, WechatAppType.WEBSITE)
            assert app_id is not None
            state = params.get("state", "")
            expires_at = check_state(
                self.settings,
                app_id=app_id,
                state=state,
                cookie=request.cookies.get(WEBSITE_STATE_COOKIE),
            )
            # Spent before WeChat is asked, whatever follows: a state works once.
            async with self.base.database.transaction() as session:
                await spend_state(session=session, state=state, expires_at=expires_at)
            signed_in = await self._finish(request_id, app_id, app, params.get("code", ""))
        except (CdpError, WechatError, SignInFailed) as exc:
            failed = exc if isinstance(exc, SignInFailed) else failure_of(exc)
            if failed.extensions.get("limit") == "rate":  # not audited: it would flood the log
                response = json_error(request_id, failed)
            else:
                response = await self.base.refuse(request_id, app_id, failed)
        except Exception as exc:
            if outage_of(exc):
                raise  # 503 (cdp/availability.py)
            response = json_error(request_id, unexpected(exc, request_id))
        else:
            assert app_id is not None
            fragment = urlencode(
                {
                    "token": signed_in.token,
                    "expiresIn": signed_in.expires_in,
                    "profileId": signed_in.profile_id,
                }
            )
            response = RedirectResponse(
                f"{self._return_url(app_id)}#{fragment}",
                status_code=303,
                headers={**NO_STORE, "x-request-id": request_id},
            )
        response.delete_cookie(WEBSITE_STATE_COOKIE, path=WEBSITE_CALLBACK)
        return response

    async def _finish(
        self, request_id: str, app_id: str, app: WechatApp, code: str
    ) -> CustomerSession:
        if not code:
            raise SignInFailed(401, ErrorCode.UNAUTHENTICATED, "Authorisation was declined")
        client = self.base.client
        grant = await client.oauth_grant(app_id=app_id, app=app, code=checked_code(code))
        # WeChat gives the UnionID with the token when the website app is bound to the
        # brand's Open Platform account; sns/userinfo is asked otherwise.
        union_id = grant.union_id or await client.userinfo_union_id(grant)
        identity = VouchedIdentity(
            app_id, WechatAppType.WEBSITE, grant.open_id, union_id, scope=grant.scope or SCOPE
        )
        return await self.base.sign_in_as(request_id, identity)

    def _redirect_base(self, request: Request) -> str:
        return (
            self.settings.wechat_redirect_base_url or f"{request.url.scheme}://{request.url.netloc}"
        )

    def _return_url(self, app_id: str) -> str:
        configured = self.settings.wechat_apps[app_id].return_url
        return configured or f"{DEFAULT_RETURN}?{urlencode({'appId': app_id})}"
