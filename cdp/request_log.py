"""One JSON log line per HTTP request: request id, role, operation name, status, duration.

Never the query string, the body, variables or headers other than the request id: those
carry codes, tokens and personal values. What the client chose and is logged (method, path,
operation name, request id) holds no control or bidirectional control character. Handlers
add `role` and `operation` to the request state; this middleware gives every request its id
(`x-request-id` when well-formed).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdp.text import printable

log = logging.getLogger("cdp.request")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `x-request-id` when it is a short plain token, else a fresh one."""
    for name, value in headers:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id_from(scope.get("headers", []))
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before responding

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "request",
                extra={
                    "request_id": state["request_id"],
                    # The client chose these: what could forge a line or a terminal goes.
                    "method": printable(scope["method"], limit=16),
                    "path": printable(scope["path"]),
                    "role": state.get("role"),
                    "operation": state.get("operation"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
