"""A stand-in for WeChat that answers as the documented one does: code2session, OAuth web
authorisation (the consent page, the access token, user info), the Open Platform's website QR
sign-in (qrconnect) and their `errcode` answers. Tests use it, and so does the sandbox.

Tests hand out codes for made-up people and script what the next calls get: an errcode, a
slow answer (for timeouts), "system busy" before a success. Codes work once (40163 after).
In the sandbox (`sandbox=True`) the consent and QR pages ask who is signing in instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cdp.devwechat.fake_messages import FakeMessageApi
from cdp.devwechat.fake_phone import FakePhoneApi

MINI_APP_ID = "wx8f3c2a1b5d6e7f90"
MINI_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OA_APP_ID = "wx1a2b3c4d5e6f7a8b"
OA_SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
USERINFO_APP_ID = "wx99aa88bb77cc66dd"  # an official account configured for snsapi_userinfo
USERINFO_SECRET = "99aa88bb77cc66dd55ee44ff33001122"
WEBSITE_APP_ID = "wx5e6b7a8c9d0e1f2a"  # an Open Platform website app (QR sign-in)
WEBSITE_SECRET = "5e6b7a8c9d0e1f2a3b4c5d6e7f809102"
SECRETS = {
    MINI_APP_ID: MINI_SECRET,
    OA_APP_ID: OA_SECRET,
    USERINFO_APP_ID: USERINFO_SECRET,
    WEBSITE_APP_ID: WEBSITE_SECRET,
}
ERRMSG = {
    -1: "system error",
    40029: "invalid code",
    40163: "code been used",
    45011: "api minute-quota reach limit mustslower retry next minute",
    40226: "invalid user, high risk user",
    40013: "invalid appid",
    40125: "invalid appsecret",
    42001: "access_token expired",
}
_serial = itertools.count(1)


@dataclass(frozen=True)
class WechatUser:
    """A person in WeChat: one UnionID (when the brand's apps are bound to an open-platform
    account) and an OpenID per app."""

    union_id: str | None
    seed: str = field(default_factory=lambda: secrets.token_hex(8))

    def open_id(self, app_id: str) -> str:
        return "o" + hashlib.sha256(f"{self.seed}:{app_id}".encode()).hexdigest()[:27]

    @classmethod
    def named(cls, name: str) -> WechatUser:
        """The sandbox's person called `name`: the same OpenIDs and UnionID every time."""
        digest = hashlib.sha256(f"cdp-sandbox:{name}".encode()).hexdigest()
        return cls(union_id="oSbX" + digest[:24], seed=digest[24:40])


@dataclass
class _Code:
    app_id: str
    user: WechatUser
    scope: str = "snsapi_base"
    session_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    union_in_token: bool = True


@dataclass
class FakeWechat:
    """The API's state: codes handed out and used, grants, scripted answers, calls seen.
    `apps` holds each app's AppSecret (AppID -> secret)."""

    apps: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    sandbox: bool = False
    codes: dict[str, _Code] = field(default_factory=dict)
    grants: dict[str, _Code] = field(default_factory=dict)  # by access token
    used: set[str] = field(default_factory=set)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    browser_user: WechatUser | None = None  # who "agrees" on the consent page
    base_url: str = ""  # where it listens, once started
    session_keys: list[str] = field(default_factory=list)  # every one handed out
    phone: FakePhoneApi = field(init=False)  # app tokens and getuserphonenumber
    messages: FakeMessageApi = field(init=False)  # subscribe and template messages

    def __post_init__(self) -> None:
        self.phone = FakePhoneApi(self.apps, self._scripted, sandbox=self.sandbox)
        self.messages = FakeMessageApi(self.phone, self._scripted)

    def reset(self) -> None:
        self.phone.reset()
        self.messages.reset()
        for kept in (self.codes, self.grants, self.used, self.script, self.calls):
            kept.clear()
        self.session_keys.clear()
        self.browser_user = None

    def code_for(
        self,
        app_id: str,
        user: WechatUser,
        *,
        scope: str = "snsapi_base",
        union_in_token: bool = True,
    ) -> str:
        """A fresh code, as wx.login or the consent page would give `user` for `app_id`."""
        code = f"0{next(_serial):05d}{secrets.token_hex(13)}"
        self.codes[code] = _Code(app_id, user, scope, union_in_token=union_in_token)
        return code

    def then(self, path: str, *answers: dict[str, Any]) -> None:
        """Script the next calls to `path`: {"errcode": n}, {"delay": seconds}, {"status": n}
        (an HTML error page with that status) or {"garbage": True} (200, not JSON)."""
        self.script.setdefault(path, []).extend(answers)

    def calls_to(self, path: str) -> list[tuple[float, dict[str, str]]]:
        return [(at, params) for p, at, params in self.calls if p == path]

    # --- the API ---------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """WeChat's endpoints by their real paths (api. and open.weixin.qq.com on one host)."""
        return [
            *self.phone.routes(),
            *self.messages.routes(),
            Route("/sns/jscode2session", self.jscode2session),
            Route("/sns/oauth2/access_token", self.access_token),
            Route("/sns/userinfo", self.userinfo),
            Route("/connect/oauth2/authorize", self.authorize),
            Route("/connect/qrconnect", self.qrconnect),
            Route("/sandbox/wx.login", self.sandbox_login),
        ]

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())

    async def _scripted(self, request: Request) -> Response | None:
        path = request.url.path
        self.calls.append((path, time.monotonic(), dict(request.query_params)))
        queue = self.script.get(path)
        if not queue:
            return None
        answer = queue.pop(0)
        if "delay" in answer:
            await asyncio.sleep(answer["delay"])
            return None
        if "status" in answer:
            return Response("<html>502 Bad Gateway</html>", status_code=answer["status"])
        if "garbage" in answer:
            return Response("<html>not json</html>", media_type="text/html")
        return _error(answer["errcode"])

    def _redeem(self, params: Any, code_param: str) -> _Code | Response:
        app_id = params.get("appid")
        if app_id not in self.apps:
            return _error(40013)
        if params.get("secret") != self.apps[app_id] or params.get("grant_type") != (
            "authorization_code"
        ):
            return _error(40125)
        code = params.get(code_param, "")
        if code in self.used:
            return _error(40163)
        found = self.codes.get(code)
        if found is None or found.app_id != app_id:
            return _error(40029)
        self.used.add(code)
        return found

    async def jscode2session(self, request: Request) -> Response:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        found = self._redeem(request.query_params, "js_code")
        if isinstance(found, Response):
            return found
        self.session_keys.append(found.session_key)
        body = {"openid": found.user.open_id(found.app_id), "session_key": found.session_key}
        if found.user.union_id:
            body["unionid"] = found.user.union_id
        return _answer(body)

    async def access_token(self, request: Request) -> Response:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        found = self._redeem(request.query_params, "code")
        if isinstance(found, Response):
            return found
        token = f"AT{secrets.token_hex(16)}"
        self.grants[token] = found
        body = {
            "access_token": token,
            "expires_in": 7200,
            "refresh_token": f"RT{secrets.token_hex(16)}",
            "openid": found.user.open_id(found.app_id),
            "scope": found.scope,
            "is_snapshotuser": 0,
        }
        # As documented: the UnionID comes with the token only for snsapi_userinfo grants and
        # (website apps bound to the brand's Open Platform account) snsapi_login ones.
        granted = found.scope in ("snsapi_userinfo", "snsapi_login")
        if found.user.union_id and granted and found.union_in_token:
            body["unionid"] = found.user.union_id
        return _answer(body)

    async def userinfo(self, request: Request) -> Response:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        grant = self.grants.get(request.query_params.get("access_token", ""))
        if grant is None or request.query_params.get("openid") != grant.user.open_id(grant.app_id):
            return _error(42001)
        body = {
            "openid": grant.user.open_id(grant.app_id),
            "nickname": "小王",
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
        if grant.user.union_id:
            body["unionid"] = grant.user.union_id
        return _answer(body)

    async def authorize(self, request: Request) -> Response:
        """The consent page: the browser's person agrees at once; back to redirect_uri."""
        return self._consent(request, "请在微信客户端打开链接")

    async def qrconnect(self, request: Request) -> Response:
        """The website QR page: the browser's person scans and agrees; back to redirect_uri
        with code and state (as WeChat does once the phone confirms)."""
        if request.query_params.get("scope") != "snsapi_login":
            return Response("Scope 参数错误或没有 Scope 权限", status_code=400)
        return self._consent(request, "请使用微信扫描二维码登录")

    def _consent(self, request: Request, refusal: str) -> Response:
        params = request.query_params
        user = self.browser_user
        if user is None and self.sandbox and params.get("appid") in self.apps:
            person = params.get("person", "").strip()
            if not person:
                return _who_page(dict(params))
            user = WechatUser.named(person[:40])
        if user is None or params.get("appid") not in self.apps:
            return Response(refusal, status_code=403, media_type="text/plain")
        code = self.code_for(params["appid"], user, scope=params.get("scope", "snsapi_base"))
        target = params["redirect_uri"]
        joiner = "&" if "?" in target else "?"
        state = params.get("state", "")
        return RedirectResponse(f"{target}{joiner}{urlencode({'code': code, 'state': state})}", 302)

    async def sandbox_login(self, request: Request) -> Response:
        """Not WeChat's: what wx.login gives a mini-program, for the sandbox's person
        `person` (`?appid=...&person=...`), as `{"code": ...}`."""
        params = request.query_params
        person = params.get("person", "").strip()
        if not self.sandbox or params.get("appid") not in self.apps or not person:
            return _error(40013)
        return _answer({"code": self.code_for(params["appid"], WechatUser.named(person[:40]))})


def _who_page(params: dict[str, str]) -> Response:
    """The sandbox's stand-in for the phone: a form asking who signs in."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    page = (
        '<!doctype html><meta charset="utf-8"><title>WeChat sandbox</title>'
        "<h1>WeChat sandbox</h1><p>Who is signing in? The same name is the same person"
        " (one UnionID) in every app.</p>"
        f'<form method="get">{hidden}<input name="person" value="小王" autofocus>'
        "<button>Agree</button></form>"
    )
    return HTMLResponse(page)


def _answer(body: dict[str, Any]) -> Response:
    # WeChat labels its JSON text/plain.
    return Response(json.dumps(body, ensure_ascii=False), media_type="text/plain")


def _error(errcode: int) -> Response:
    return _answer({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')}, rid: 6f1c"})
