"""WeChat's sign-in APIs as documented: code2session for mini-programs, OAuth web authorisation
(access token, user info) for official accounts, an app's stable access token and a
mini-program's phone authorisation (getuserphonenumber). WeChat's error codes become
`WechatError`s that name what a caller can do about them.

The AppSecret, the code, the session key and the access token are never logged: WeChat takes
the first two in the query string, so httpx's own request logging is kept off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from pydantic import SecretStr

from cdp.config import Settings
from cdp.config_models import WechatApp
from cdp.errcode_api import Patience, ServiceError, call_json

log = logging.getLogger("cdp.wechat")


class WechatFailure(StrEnum):
    CODE_INVALID = "WECHAT_CODE_INVALID"  # 40029: wrong, expired or another app's code
    CODE_USED = "WECHAT_CODE_USED"  # 40163: a code works once
    RATE_LIMITED = "WECHAT_RATE_LIMITED"  # 45011
    RISKY_USER = "WECHAT_RISKY_USER"  # 40226: WeChat blocks this user's sign-in
    QUOTA_EXHAUSTED = "WECHAT_QUOTA_EXHAUSTED"  # 1400001: the app's phone authorisations
    TOKEN_INVALID = "WECHAT_TOKEN_INVALID"  # 40001, 40014, 42001: the app's access token
    NO_ACCEPTANCE = "WECHAT_NO_ACCEPTANCE"  # 43101: no subscribe acceptance left to spend
    NOT_FOLLOWING = "WECHAT_NOT_FOLLOWING"  # 43004: template messages go to followers only
    DAILY_LIMIT = "WECHAT_DAILY_LIMIT"  # 45009: the app's daily calls of an API are used up
    BUSY = "WECHAT_BUSY"  # -1 (or unreachable) on every try
    TIMEOUT = "WECHAT_TIMEOUT"
    UPSTREAM = "WECHAT_UPSTREAM"  # an answer we cannot use (bad secret, unknown errcode, ...)


# errcode -> failure; anything else is UPSTREAM (logged for the operator).
ERRCODES = {
    40029: WechatFailure.CODE_INVALID,
    40163: WechatFailure.CODE_USED,
    45011: WechatFailure.RATE_LIMITED,
    40226: WechatFailure.RISKY_USER,
    1400001: WechatFailure.QUOTA_EXHAUSTED,
    43101: WechatFailure.NO_ACCEPTANCE,
    43004: WechatFailure.NOT_FOLLOWING,
    45009: WechatFailure.DAILY_LIMIT,
    40001: WechatFailure.TOKEN_INVALID,
    40014: WechatFailure.TOKEN_INVALID,
    42001: WechatFailure.TOKEN_INVALID,
    -1: WechatFailure.BUSY,
}
STABLE_TOKEN = "/cgi-bin/stable_token"
PHONE_NUMBER = "/wxa/business/getuserphonenumber"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"


class WechatError(ServiceError[WechatFailure]):
    """WeChat refused or failed; `errcode` is WeChat's code when it gave one."""


@dataclass(frozen=True, slots=True)
class MiniProgramSession:
    """code2session's answer. The session key stays on the server (it decrypts wx data)."""

    open_id: str
    union_id: str | None
    session_key: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class OAuthGrant:
    """oauth2/access_token's answer for one person."""

    open_id: str
    union_id: str | None
    scope: str
    access_token: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """getuserphonenumber's answer: the number (`+<countryCode><purePhoneNumber>`) and the
    app its watermark names."""

    phone: str = field(repr=False)
    watermark_app_id: str


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) and value else None


class WechatClient:
    """One HTTP client for the process; timeout and "system busy" retries from the settings."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        for noisy in ("httpx", "httpcore"):  # their request lines carry the secret and code
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.wechat_api_base_url,
            timeout=settings.wechat_timeout_seconds,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def code2session(self, *, app_id: str, app: WechatApp, code: str) -> MiniProgramSession:
        body, (open_id, session_key) = await self._grant(
            "/sns/jscode2session", app_id, app, {"js_code": code}, "openid", "session_key"
        )
        return MiniProgramSession(open_id, _text(body, "unionid"), SecretStr(session_key))

    async def oauth_grant(self, *, app_id: str, app: WechatApp, code: str) -> OAuthGrant:
        body, (open_id, token) = await self._grant(
            "/sns/oauth2/access_token", app_id, app, {"code": code}, "openid", "access_token"
        )
        return OAuthGrant(
            open_id, _text(body, "unionid"), body.get("scope") or "", SecretStr(token)
        )

    async def _grant(
        self, path: str, app_id: str, app: WechatApp, code: dict[str, str], *required: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Exchange a sign-in code (authorization_code grant); the answer must carry every
        `required` key as a non-empty string, or it is unusable."""
        params = {"appid": app_id, "secret": app.secret.get_secret_value(), **code}
        body = await self._get(path, {**params, "grant_type": "authorization_code"})
        values = [_text(body, key) for key in required]
        if any(value is None for value in values):
            raise self.unusable(path, None)
        return body, [value for value in values if value is not None]

    async def userinfo_union_id(self, grant: OAuthGrant) -> str | None:
        """The UnionID from sns/userinfo (snsapi_userinfo grants); nickname and avatar are
        not kept: cdp has no use for them."""
        body = await self._get(
            "/sns/userinfo",
            {
                "access_token": grant.access_token.get_secret_value(),
                "openid": grant.open_id,
                "lang": "zh_CN",
            },
        )
        return _text(body, "unionid")

    async def stable_token(self, *, app_id: str, app: WechatApp) -> tuple[str, int]:
        """The app's access token from cgi-bin/stable_token (the same one while it lives, so
        every worker may ask) and its lifetime in seconds."""
        body = await self._call(
            STABLE_TOKEN,
            {},
            {
                "grant_type": "client_credential",
                "appid": app_id,
                "secret": app.secret.get_secret_value(),
                "force_refresh": False,
            },
        )
        token, expires_in = _text(body, "access_token"), body.get("expires_in")
        if token is None or not isinstance(expires_in, int) or expires_in <= 0:
            raise self.unusable(STABLE_TOKEN, None)
        return token, expires_in

    async def phone_number(self, *, access_token: str, code: str) -> PhoneInfo:
        """The phone a getPhoneNumber button's `code` stands for (one use, five minutes)."""
        body = await self._call(PHONE_NUMBER, {"access_token": access_token}, {"code": code})
        info = body.get("phone_info")
        watermark = info.get("watermark") if isinstance(info, dict) else None
        if not isinstance(info, dict) or not isinstance(watermark, dict):
            raise self.unusable(PHONE_NUMBER, None)
        pure, country = _text(info, "purePhoneNumber"), _text(info, "countryCode")
        app_id = _text(watermark, "appid")
        if pure is None or country is None or app_id is None:
            raise self.unusable(PHONE_NUMBER, None)
        return PhoneInfo(phone=f"+{country}{pure}", watermark_app_id=app_id)

    async def send_message(self, *, path: str, access_token: str, body: dict[str, Any]) -> int:
        """POST a subscribe (SUBSCRIBE_SEND) or template (TEMPLATE_SEND) message; WeChat's
        msgid (0 when it gave none). "System busy" is retried here; a timeout is not (the
        message may have gone), and neither is anything else WeChat refused."""
        answer = await self._call(path, {"access_token": access_token}, body)
        msgid = answer.get("msgid")
        return msgid if isinstance(msgid, int) else 0

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET and decode (cdp/errcode_api.py: "system busy" retried, a timeout not)."""
        return await self._call(path, params, None)

    async def _call(
        self, path: str, params: dict[str, str], body: dict[str, Any] | None
    ) -> dict[str, Any]:
        patience = Patience.of(self.settings)
        return await call_json(
            self._http,
            path,
            params,
            payload=body,
            patience=patience,
            failures=self,
            log=log,
            service="wechat",
        )

    def timed_out(self) -> WechatError:
        return WechatError(WechatFailure.TIMEOUT)

    def busy(self, errcode: int | None) -> WechatError:
        return WechatError(WechatFailure.BUSY, errcode)

    def refused(self, path: str, body: dict[str, Any]) -> WechatError:
        errcode = body.get("errcode")
        code = errcode if isinstance(errcode, int) else None
        failure = ERRCODES.get(code or 0, WechatFailure.UPSTREAM)
        # errmsg names the problem ("invalid appsecret, rid: ...") and echoes no secret.
        errmsg = str(body.get("errmsg", ""))[:200]
        level = logging.ERROR if failure is WechatFailure.UPSTREAM else logging.INFO
        log.log(level, "wechat refused", extra={"path": path, "errcode": code, "errmsg": errmsg})
        return WechatError(failure, code)

    def unusable(self, path: str, status: int | None) -> WechatError:
        log.error("wechat answer unusable", extra={"path": path, "status": status})
        return WechatError(WechatFailure.UPSTREAM)
