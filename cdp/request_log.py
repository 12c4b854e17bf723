"""One JSON log line per HTTP request: request id, role, operation name, status, the error
codes of the response, duration; and the request's metrics (cdp.metrics).

Never the query string, the body, variables or headers other than the request id: those
carry codes, tokens and personal values. What the client chose and is logged (method, path,
operation name, request id) holds no control or bidirectional control character. Handlers
add `role` and `operation` to the request state; this middleware gives every request its id
(`x-request-id` when well-formed).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdp import metrics
from cdp.text import printable

log = logging.getLogger("cdp.request")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z_]{0,39}")


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
        json_body, codes = False, []

        async def send_and_note(message: Message) -> None:
            nonlocal status, json_body
            if message["type"] == "http.response.start":
                status = message["status"]
                json_body = any(
                    name == b"content-type" and b"json" in value
                    for name, value in message.get("headers", ())
                )
            elif message["type"] == "http.response.body" and json_body:
                codes.extend(error_codes(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            operation = state.get("metrics_operation") or "-"
            outcome = metrics.outcome_of(codes) if codes else ("ok" if status < 500 else "INTERNAL")
            metrics.REQUESTS.labels(route, operation, outcome).inc()
            metrics.LATENCY.labels(route, operation).observe(seconds)
            metrics.count_errors(codes)
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
                    "error_codes": sorted(set(codes)) or None,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )


def error_codes(body: bytes) -> list[str]:
    """The codes of a JSON response's `errors` (codes only: messages may hold values). The
    body is parsed only when it has both an errors key and a code: a `me` answer is not."""
    if b'"errors"' not in body or b'"code"' not in body:
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        code = error.get("extensions", {}).get("code") if isinstance(error, dict) else None
        if isinstance(code, str) and _CODE.fullmatch(code):
            found.append(code)
    return found
