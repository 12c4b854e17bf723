"""The fake WeChat's app access tokens and phone authorisation, as documented: POST
cgi-bin/stable_token (`{grant_type: client_credential, appid, secret, force_refresh}` ->
`{access_token, expires_in}`, the same token while it lives) and POST
wxa/business/getuserphonenumber?access_token=... (`{code}` -> `phone_info` with its watermark).

Tests hand out getPhoneNumber codes for a phone (`code_for`), revoke tokens (40001 after), and
script answers through the fake's `then`. Codes work once (40029 after, as WeChat answers).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.json_body import RequestRefused, read_json

STABLE_TOKEN = "/cgi-bin/stable_token"
PHONE_NUMBER = "/wxa/business/getuserphonenumber"
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    47001: "data format error",
    1400001: "该功能使用次数已达当前小程序上限",
}
Scripted = Callable[[Request], Awaitable[Response | None]]
_serial = itertools.count(1)


@dataclass
class _PhoneCode:
    app_id: str
    pure: str
    country: str
    watermark_app_id: str


@dataclass
class FakePhoneApi:
    """Tokens by app, getPhoneNumber codes handed out and used; `scripted` is the fake's
    script (errcodes, delays) and `apps` its AppSecrets."""

    apps: dict[str, str]
    scripted: Scripted
    token_lifetime: int = 7200
    tokens: dict[str, str] = field(default_factory=dict)  # app id -> its current token
    codes: dict[str, _PhoneCode] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    sandbox: bool = False  # then /sandbox/getPhoneNumber hands out codes

    def reset(self) -> None:
        self.tokens.clear()
        self.codes.clear()
        self.used.clear()
        self.token_lifetime = 7200

    def code_for(
        self, app_id: str, phone: str, *, country: str = "86", watermark_app_id: str | None = None
    ) -> str:
        """A fresh code, as the getPhoneNumber button gives a person whose WeChat account has
        `phone` (digits without the country code)."""
        code = f"p{next(_serial):05d}{secrets.token_hex(20)}"
        self.codes[code] = _PhoneCode(app_id, phone, country, watermark_app_id or app_id)
        return code

    def revoke_tokens(self) -> None:
        """Every app's token stops working (as when it is refreshed elsewhere): 40001."""
        self.tokens.clear()

    def routes(self) -> list[Route]:
        return [
            Route(STABLE_TOKEN, self.stable_token, methods=["POST"]),
            Route(PHONE_NUMBER, self.phone_number, methods=["POST"]),
            Route("/sandbox/getPhoneNumber", self.sandbox_code),
        ]

    async def sandbox_code(self, request: Request) -> Response:
        """Not WeChat's: what the getPhoneNumber button gives a mini-program for `phone`
        (`?appid=...&phone=13912345678`), as `{"code": ...}`."""
        params = request.query_params
        phone = params.get("phone", "").strip()
        if not self.sandbox or params.get("appid") not in self.apps or not phone.isdigit():
            return _error(40013)
        return _answer({"code": self.code_for(params["appid"], phone[:20])})

    async def stable_token(self, request: Request) -> Response:
        scripted = await self.scripted(request)
        if scripted is not None:
            return scripted
        body = await _json(request)
        app_id = body.get("appid")
        if body.get("grant_type") != "client_credential" or not isinstance(app_id, str):
            return _error(47001)
        if app_id not in self.apps:
            return _error(40013)
        if body.get("secret") != self.apps[app_id]:
            return _error(40125)
        if body.get("force_refresh") is True or app_id not in self.tokens:
            self.tokens[app_id] = f"ACCESS{secrets.token_hex(24)}"
        return _answer({"access_token": self.tokens[app_id], "expires_in": self.token_lifetime})

    async def phone_number(self, request: Request) -> Response:
        scripted = await self.scripted(request)
        if scripted is not None:
            return scripted
        token = request.query_params.get("access_token", "")
        app_id = next((app for app, held in self.tokens.items() if held == token), None)
        if app_id is None:
            return _error(40001)
        code = (await _json(request)).get("code")
        found = self.codes.get(code) if isinstance(code, str) else None
        if found is None or found.app_id != app_id or code in self.used:
            return _error(40029)
        self.used.add(str(code))
        shown = found.pure if found.country == "86" else f"+{found.country}{found.pure}"
        return _answer(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": shown,
                    "purePhoneNumber": found.pure,
                    "countryCode": found.country,
                    "watermark": {"timestamp": int(time.time()), "appid": found.watermark_app_id},
                },
            }
        )


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await read_json(request, limit=4096, max_depth=8)
    except RequestRefused:
        return {}
    return body if isinstance(body, dict) else {}


def _answer(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type="text/plain")


def _error(errcode: int) -> Response:
    return _answer({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')}, rid: 6f1d"})
