"""A fake WeCom (企业微信) that answers as the documented server API does: gettoken,
auth/getuserinfo, user/get, tag/list, tag/get and their `errcode` answers, plus the two pages
a browser visits (web authorisation inside WeCom, the QR sign-in page) that send it back to
cdp with a code.

Tests add members and tags, hand out one-use codes (5 minutes, as WeCom's), and script what
the next calls get: an errcode, a slow answer, an HTML error page, garbage. The access token
lives `expires_in` seconds, is the same on every gettoken while valid (as WeCom's), and can be
made invalid or expired at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

CORP_ID = "ww0a1b2c3d4e5f6a7b"
AGENT_ID = "1000002"
SECRET = "Tq3v9XkLm2Pz8RwYc4Hn7Jd1Fs6Gb5Ae0UiOoEqWtI"
ERRMSG = {
    -1: "system busy",
    40001: "invalid credential",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    40068: "invalid tagid",
    41001: "access_token missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    50001: "redirect_url not authorised",
    60011: "no privilege to access/modify contact/party/agent",
    60020: "not allow to access from your ip",
    60111: "userid not found",
}
_serial = itertools.count(1)
CODE_LIFETIME = 300.0


@dataclass
class Member:
    """A person in the corp's directory. Name and mobile are there because WeCom sends them
    (to apps created before mid-2022): cdp must never keep or log them."""

    userid: str
    departments: list[int] = field(default_factory=lambda: [1])
    status: int = 1  # 1 active, 2 disabled, 4 not activated, 5 left
    name: str = "王小明"
    mobile: str = "13800138000"


@dataclass
class Tag:
    tag_id: int
    name: str
    userids: set[str] = field(default_factory=set)
    departments: set[int] = field(default_factory=set)


@dataclass
class _Code:
    userid: str | None  # None: someone outside the corp (an openid only)
    issued: float = field(default_factory=time.monotonic)


@dataclass
class FakeWecom:
    members: dict[str, Member] = field(default_factory=dict)
    tags: dict[int, Tag] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    expires_in: int = 7200
    token: str | None = None
    token_expires: float = 0.0
    refused_tokens: dict[str, int] = field(default_factory=dict)  # token -> errcode
    browser_user: str | None = None  # who is signed in to WeCom in "the browser"
    base_url: str = ""

    def reset(self) -> None:
        self.members.clear()
        self.tags.clear()
        self.codes.clear()
        self.script.clear()
        self.calls.clear()
        self.refused_tokens.clear()
        self.expires_in, self.token, self.token_expires = 7200, None, 0.0
        self.browser_user = None

    # --- what tests arrange -----------------------------------------------------------------

    def add(self, userid: str, *departments: int, status: int = 1) -> Member:
        member = Member(userid, list(departments) or [1], status)
        self.members[userid] = member
        return member

    def tag(self, name: str, *userids: str, departments: tuple[int, ...] = ()) -> Tag:
        tag = Tag(len(self.tags) + 1, name, set(userids), set(departments))
        self.tags[tag.tag_id] = tag
        return tag

    def code_for(self, userid: str | None) -> str:
        """A fresh code, as the sign-in pages would give `userid` (None: an outsider)."""
        code = f"{next(_serial):04d}{secrets.token_urlsafe(30)}"
        self.codes[code] = _Code(userid)
        return code

    def refuse_token(self, errcode: int = 42001) -> None:
        """The current token stops working (answers `errcode`); gettoken gives a new one."""
        if self.token is not None:
            self.refused_tokens[self.token] = errcode
        self.token = None

    def then(self, path: str, *answers: dict[str, Any]) -> None:
        """Script the next calls to `path`: {"errcode": n}, {"delay": seconds}, {"status": n}
        (an HTML error page), {"garbage": True} (200, not JSON) or {"body": {...}}."""
        self.script.setdefault(path, []).extend(answers)

    def calls_to(self, path: str) -> list[dict[str, str]]:
        return [params for p, _at, params in self.calls if p == path]

    # --- the API ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        api = [
            ("/cgi-bin/gettoken", self.gettoken),
            ("/cgi-bin/auth/getuserinfo", self.getuserinfo),
            ("/cgi-bin/user/get", self.user_get),
            ("/cgi-bin/tag/list", self.tag_list),
            ("/cgi-bin/tag/get", self.tag_get),
        ]
        return Starlette(
            routes=[
                *(Route(path, self._answering(handler)) for path, handler in api),
                Route("/connect/oauth2/authorize", self.in_app_page),
                Route("/wwlogin/sso/login", self.qr_page),
            ]
        )

    def _answering(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            self.calls.append((path, time.monotonic(), dict(request.query_params)))
            queue = self.script.get(path)
            if queue:
                answer = queue.pop(0)
                if "delay" in answer:
                    await asyncio.sleep(answer["delay"])
                elif "status" in answer:
                    return Response("<html>502 Bad Gateway</html>", status_code=answer["status"])
                elif "garbage" in answer:
                    return Response("<html>not json</html>", media_type="text/html")
                elif "body" in answer:
                    return _answer({"errcode": 0, "errmsg": "ok", **answer["body"]})
                else:
                    return _error(answer["errcode"])
            if path != "/cgi-bin/gettoken":
                refusal = self._token_refusal(request.query_params.get("access_token"))
                if refusal is not None:
                    return _error(refusal)
            body: dict[str, Any] | int = handler(request.query_params)
            return _error(body) if isinstance(body, int) else _answer(body)

        return endpoint

    def _token_refusal(self, token: str | None) -> int | None:
        if not token:
            return 41001
        if token in self.refused_tokens:
            return self.refused_tokens[token]
        if token != self.token:
            return 40014
        if time.monotonic() >= self.token_expires:
            return 42001
        return None

    def gettoken(self, params: Any) -> dict[str, Any] | int:
        if params.get("corpid") != CORP_ID:
            return 40013
        if params.get("corpsecret") != SECRET:
            return 40001
        now = time.monotonic()
        if self.token is None or now >= self.token_expires:
            self.token = secrets.token_urlsafe(48)
            self.token_expires = now + self.expires_in
        remaining = max(1, int(self.token_expires - now))
        return {"errcode": 0, "errmsg": "ok", "access_token": self.token, "expires_in": remaining}

    def getuserinfo(self, params: Any) -> dict[str, Any] | int:
        found = self.codes.pop(params.get("code", ""), None)  # one use
        if found is None or time.monotonic() - found.issued > CODE_LIFETIME:
            return 40029
        if found.userid is None:
            return {"errcode": 0, "errmsg": "ok", "openid": "oAbC" + secrets.token_hex(12)}
        return {"errcode": 0, "errmsg": "ok", "userid": found.userid}

    def user_get(self, params: Any) -> dict[str, Any] | int:
        member = self.members.get(params.get("userid", ""))
        if member is None:
            return 60111
        return {
            "errcode": 0,
            "errmsg": "ok",
            "userid": member.userid,
            "name": member.name,
            "mobile": member.mobile,
            "department": member.departments,
            "order": [0] * len(member.departments),
            "main_department": member.departments[0] if member.departments else 1,
            "status": member.status,
        }

    def tag_list(self, _params: Any) -> dict[str, Any]:
        taglist = [{"tagid": t.tag_id, "tagname": t.name} for t in self.tags.values()]
        return {"errcode": 0, "errmsg": "ok", "taglist": taglist}

    def tag_get(self, params: Any) -> dict[str, Any] | int:
        raw = params.get("tagid", "")
        tag = self.tags.get(int(raw)) if raw.isdigit() else None
        if tag is None:
            return 40068
        users = [
            {"userid": u, "name": self.members[u].name if u in self.members else ""}
            for u in sorted(tag.userids)
        ]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "tagname": tag.name,
            "userlist": users,
            "partylist": sorted(tag.departments),
        }

    # --- the pages a browser visits ---------------------------------------------------------

    async def in_app_page(self, request: Request) -> Response:
        """Web authorisation inside WeCom: silent for the signed-in member (snsapi_base)."""
        params = request.query_params
        wanted = (params.get("appid"), params.get("scope"), params.get("agentid"))
        if wanted != (CORP_ID, "snsapi_base", AGENT_ID):
            return Response("参数错误", status_code=400, media_type="text/plain")
        if self.browser_user is None:
            return Response("请在企业微信客户端打开链接", status_code=403, media_type="text/plain")
        return self._back(params, self.code_for(self.browser_user))

    async def qr_page(self, request: Request) -> Response:
        """The QR sign-in page, once the member scanned and agreed; without a signed-in
        member it sends the browser back with the state only (declined)."""
        params = request.query_params
        if params.get("login_type") != "CorpApp" or params.get("appid") != CORP_ID:
            return Response("该链接无法访问", status_code=400, media_type="text/plain")
        if params.get("agentid") != AGENT_ID:
            return Response("该链接无法访问", status_code=400, media_type="text/plain")
        code = self.code_for(self.browser_user) if self.browser_user else None
        return self._back(params, code)

    def _back(self, params: Any, code: str | None) -> Response:
        target = params["redirect_uri"]
        query = {"code": code, "state": params.get("state", "")} if code else {}
        query = query or {"state": params.get("state", "")}
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{joiner}{urlencode(query)}", 302)


def _answer(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


def _error(errcode: int) -> Response:
    hint = f"{ERRMSG.get(errcode, 'error')}, hint: [{secrets.token_hex(5)}], from ip: 127.0.0.1"
    return _answer({"errcode": errcode, "errmsg": hint})
