"""The answer of a GraphQL request over HTTP: the result as JSON (UTF-8, compact), with the
status the GraphQL-over-HTTP spec asks of its media type, and Retry-After for a spent budget."""

from __future__ import annotations

import json
from typing import Any

from graphql import ExecutionResult, GraphQLError
from starlette.responses import JSONResponse, Response
from strawberry.types import ExecutionResult as StrawberryResult

from cdp.errors import ErrorCode, Throttled
from cdp.graphql.errors import coded_error, format_error
from cdp.graphql.http_request import GRAPHQL_RESPONSE
from cdp.json_body import JSON
from cdp.rate_limit import retry_after_header


class GraphQLResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(
    status: int,
    code: ErrorCode,
    message: str,
    request_id: str,
    media: str = JSON,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A request refused before or instead of execution: one coded error, no data."""
    extensions: dict[str, Any] = {"requestId": request_id} if code is ErrorCode.INTERNAL else {}
    extensions.update(extra or {})
    return GraphQLResponse(
        {"errors": [coded_error(code, message, **extensions)]},
        status_code=status,
        media_type=media,
        headers={"x-request-id": request_id, **(headers or {})},
    )


def rendered(
    result: ExecutionResult | StrawberryResult, params: dict[str, Any], media: str, request_id: str
) -> GraphQLResponse:
    """`result` as the response to send (not yet committed)."""
    payload: dict[str, Any] = {}
    # Errors without a path never reached execution (parse, validation, variables): a
    # request error with no "data" key. Execution errors keep "data", even when null.
    if result.data is not None or any(e.path for e in result.errors or ()):
        payload["data"] = result.data
    if result.errors:
        payload["errors"] = [format_error(e, request_id=request_id) for e in result.errors]
    # A trusted document's request errors (variables that do not fit) are the client's
    # to fix, whatever media type it asked for.
    request_error = "data" not in payload and (
        media == GRAPHQL_RESPONSE or params.get("trusted", False)
    )
    status = 400 if request_error else 200
    if any("limit" in e["extensions"] for e in payload.get("errors", ())):
        status = 400  # a limit is the client's to fix, whatever media type it asked for
    headers = {"x-request-id": request_id}
    waits = [e.retry_after for e in map(_throttled, result.errors or ()) if e is not None]
    if waits:  # a spent budget (the lookup miss cap): try again later
        status, headers["retry-after"] = 429, retry_after_header(max(waits))
    return GraphQLResponse(payload, status_code=status, media_type=media, headers=headers)


def _throttled(error: GraphQLError) -> Throttled | None:
    original = error.original_error
    return original if isinstance(original, Throttled) else None
