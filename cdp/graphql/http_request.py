"""Reading a GraphQL-over-HTTP request before execution: media type, body, parameters,
rate budget. Everything here refuses with a coded error, never a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from cdp.config import Settings
from cdp.errors import CdpError, ErrorCode
from cdp.graphql.limits import oversized_list
from cdp.rate_limit import RateLimiter, retry_after_header
from cdp.request_log import request_id_from

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_OPERATION_NAME = re.compile(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


class RequestRefused(CdpError):
    """Refused before execution with a given HTTP status (and `extensions.limit`)."""

    def __init__(
        self, status: int, code: ErrorCode, message: str, *, limit: str | None = None
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.limit = limit
        self.headers: dict[str, str] = {}


def request_id_of(request: Request) -> str:
    """The id the request log middleware gave this request (or one from its headers)."""
    given = request.scope.get("state", {}).get("request_id")
    return given if isinstance(given, str) else request_id_from(request.scope["headers"])


def operation_name_of(params: dict[str, Any]) -> str | None:
    """The operation's name for the log: `operationName`, or the first operation's own."""
    if params["operation_name"]:
        return str(params["operation_name"])[:100]
    named = _OPERATION_NAME.match(params["query"])
    return named.group(1)[:100] if named else None


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header; None when nothing acceptable."""
    if not accept:
        return JSON
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def spend_budget(limiter: RateLimiter, key: str) -> None:
    """Take one request from `key`'s rate budget; RequestRefused (429) when it is spent."""
    wait = limiter.acquire(key)
    if wait:
        refused = RequestRefused(
            429,
            ErrorCode.QUERY_TOO_COMPLEX,
            f"Too many requests: at most {limiter.capacity:g} per minute",
            limit="rate",
        )
        refused.headers["retry-after"] = retry_after_header(wait)
        raise refused


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past the size limit without reading more than the limit."""
    too_large = RequestRefused(
        413,
        ErrorCode.QUERY_TOO_COMPLEX,
        f"The request body is larger than {limit} bytes",
        limit="body",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request, settings: Settings) -> dict[str, Any]:
    """The POST body's query, variables and operation name, checked; CdpError when malformed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise CdpError(ErrorCode.BAD_USER_INPUT, "Content-Type must be application/json")
    try:
        body = json.loads(await read_body(request, settings.max_body_bytes))
    except (ValueError, UnicodeDecodeError):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "The request body is not valid JSON") from None
    if isinstance(body, list):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "Batched operations are not supported")
    if not isinstance(body, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "The request body must be a JSON object")
    query, variables = body.get("query"), body.get("variables")
    operation_name, extensions = body.get("operationName"), body.get("extensions")
    if not isinstance(query, str) or not query.strip():
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'query' must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'variables' must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'operationName' must be a string")
    if extensions is not None and not isinstance(extensions, dict):
        raise CdpError(ErrorCode.BAD_USER_INPUT, "'extensions' must be an object")
    longest = oversized_list(variables, settings.max_list_items)
    if longest is not None:
        raise RequestRefused(
            400,
            ErrorCode.BAD_USER_INPUT,
            f"A list in 'variables' holds {longest} items; at most {settings.max_list_items}",
            limit="list",
        )
    return {"query": query, "variables": variables, "operation_name": operation_name}
