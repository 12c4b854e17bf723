"""The brand's webhook endpoint, on loopback: keeps what it received (headers and raw body)
and answers the statuses a test scripts (200 once the script is used up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.devwechat.loopback import LoopbackServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok" if status < 300 else "no", status_code=status)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks/cdp", receiver.hook, methods=["POST"])])
    with LoopbackServer(app, lifespan="off") as server:
        receiver.url = f"{server.url}/hooks/cdp"
        yield receiver
