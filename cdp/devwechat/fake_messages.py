"""The fake WeChat's message APIs, as documented: a mini-program's subscribe message (POST
cgi-bin/message/subscribe/send?access_token=... `{touser, template_id, page, data}`) and an
official account's template message (POST cgi-bin/message/template/send?access_token=...
`{touser, template_id, url, miniprogram, client_msg_id, data}` -> `{msgid}`).

A subscribe message spends one acceptance the person gave for its template (43101 without
one); a template message needs a follower (43004 otherwise) and sends once per OpenID and
`client_msg_id` (WeChat's 防重入 id). Tests give acceptances and follows, read `sent`, and
make a send slow to answer after it went (`lingers`), as when the sender dies meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.devwechat.fake_phone import FakePhoneApi, Scripted, _answer, _json

SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40037: "invalid template_id",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    47003: "argument invalid! data.thing1.value invalid",
}
_msgids = itertools.count(200_228_332)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message WeChat delivered: which API, app, OpenID, template and data."""

    api: str
    app_id: str
    open_id: str
    template_id: str
    data: dict[str, Any]
    msgid: int


@dataclass
class FakeMessageApi:
    """Acceptances by (app, OpenID, template), followers by (app, OpenID), what was sent."""

    phone: FakePhoneApi  # its tokens are the apps' access tokens
    scripted: Scripted
    acceptances: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    followers: set[tuple[str, str]] = field(default_factory=set)
    sent: list[SentMessage] = field(default_factory=list)
    deduplicated: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # Seconds to wait after sending before answering, per send (a worker killed meanwhile).
    lingers: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.lingers.clear()
        self.acceptances.clear()
        self.followers.clear()
        self.sent.clear()
        self.deduplicated.clear()

    def accept(self, app_id: str, open_id: str, template_id: str, times: int = 1) -> None:
        """The person tapped "allow" on wx.requestSubscribeMessage `times` times."""
        self.acceptances[(app_id, open_id, template_id)] += times

    def follow(self, app_id: str, open_id: str) -> None:
        self.followers.add((app_id, open_id))

    def routes(self) -> list[Route]:
        return [
            Route(SUBSCRIBE_SEND, self.subscribe_send, methods=["POST"]),
            Route(TEMPLATE_SEND, self.template_send, methods=["POST"]),
        ]

    def _app_of(self, request: Request) -> str | None:
        token = request.query_params.get("access_token", "")
        return next((app for app, held in self.phone.tokens.items() if held == token), None)

    async def _checked(
        self, request: Request
    ) -> Response | tuple[str, dict[str, Any], str, str, dict[str, Any]]:
        """A scripted answer or WeChat's refusal of a malformed send, else (app id, body,
        touser, template id, data): what both send endpoints check first."""
        scripted = await self.scripted(request)
        if scripted is not None:
            return scripted
        app_id = self._app_of(request)
        if app_id is None:
            return _error(40001)
        body = await _json(request)
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not touser:
            return _error(40003)
        if not isinstance(template_id, str) or not template_id:
            return _error(40037)
        if not isinstance(data, dict) or not _values_fit(data):
            return _error(47003)
        return app_id, body, touser, template_id, data

    async def subscribe_send(self, request: Request) -> Response:
        checked = await self._checked(request)
        if isinstance(checked, Response):
            return checked
        app_id, _, touser, template_id, data = checked
        key = (app_id, touser, template_id)
        if self.acceptances[key] <= 0:
            return _error(43101)
        self.acceptances[key] -= 1
        msgid = next(_msgids)
        self.sent.append(SentMessage("subscribe", app_id, touser, template_id, data, msgid))
        if self.lingers:
            await asyncio.sleep(self.lingers.pop(0))
        return _answer({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def template_send(self, request: Request) -> Response:
        checked = await self._checked(request)
        if isinstance(checked, Response):
            return checked
        app_id, body, touser, template_id, data = checked
        if (app_id, touser) not in self.followers:
            return _error(43004)
        client_msg_id = body.get("client_msg_id")
        dedupe = (app_id, touser, str(client_msg_id)) if client_msg_id else None
        if dedupe is not None and dedupe in self.deduplicated:
            return _answer({"errcode": 0, "errmsg": "ok", "msgid": self.deduplicated[dedupe]})
        msgid = next(_msgids)
        if dedupe is not None:
            self.deduplicated[dedupe] = msgid
        self.sent.append(SentMessage("template", app_id, touser, template_id, data, msgid))
        return _answer({"errcode": 0, "errmsg": "ok", "msgid": msgid})


def _values_fit(data: dict[str, Any]) -> bool:
    # Every keyword is {"value": "..."}; thing.DATA values are at most 20 characters.
    for name, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return False
        if name.startswith("thing") and len(item["value"]) > 20:
            return False
    return True


def _error(errcode: int) -> Response:
    return _answer({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')}, rid: 6f1e"})
