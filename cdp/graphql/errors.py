"""Turning execution errors into the coded errors of the contract.

Expected failures (CdpError) keep their message and code; parse and validation errors keep
their message, and the code and limit their `extensions` carry (cdp's limits set both; nothing
here reads graphql-core's wording); anything else is INTERNAL with a masked message, logged
without its text (exception messages from drivers can carry the values that failed).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from graphql import GraphQLError

from cdp.errors import CdpError, ErrorCode

log = logging.getLogger("cdp.errors")
INTERNAL_MESSAGE = "Internal server error"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def coded_error(code: ErrorCode, message: str, **extensions: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code.value, **extensions}}


def log_unexpected(exc: BaseException, *, request_id: str) -> None:
    """Log where an unexpected exception came from, never its message (it may hold values)."""
    frames = traceback.extract_tb(exc.__traceback__)
    log.error(
        "unexpected error",
        extra={
            "request_id": request_id,
            "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "where": [f"{f.filename}:{f.lineno} in {f.name}" for f in frames[-8:]],
        },
    )


def format_error(error: GraphQLError, *, request_id: str) -> dict[str, Any]:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, CdpError):
        out: dict[str, Any] = {"message": original.message, "extensions": original.extensions()}
    elif original is None or isinstance(original, GraphQLError):
        extensions = dict(error.extensions or {})
        code = extensions.get("code") or ErrorCode.BAD_USER_INPUT.value
        if code not in ErrorCode.__members__:
            code = ErrorCode.BAD_USER_INPUT.value
        # graphql-core suggests names ("Did you mean ...?") even with field suggestions off:
        # they would map the schema for someone probing it.
        out = {"message": _SUGGESTION.sub("", error.message), "extensions": {"code": code}}
        for key in ("limit", "cost", "maxCost"):
            if key in extensions:
                out["extensions"][key] = extensions[key]
    else:
        log_unexpected(original, request_id=request_id)
        out = coded_error(ErrorCode.INTERNAL, INTERNAL_MESSAGE, requestId=request_id)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    return out
