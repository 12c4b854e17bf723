"""The one reader of JSON request bodies (GraphQL, WeChat sign-in, any endpoint added later).

UTF-8 only (RFC 8259 for JSON exchanged between systems; GraphQL over HTTP), at most
`limit` bytes read, nesting measured by a linear scan before a recursive parser sees the
text, duplicate keys, NaN/Infinity and out-of-range numbers refused, and strings that are not
Unicode scalar values (a lone surrogate escape) refused naming their JSON path. Every refusal
is a RequestRefused: a coded error with an HTTP status, never a 5xx.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request

from cdp.errors import CdpError, ErrorCode

JSON = "application/json"
_SIGNIFICANT = re.compile(r'\\.|["\[\]{}]', re.DOTALL)  # an escape, a quote, a bracket
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_BOMS = (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")  # UTF-8, UTF-16 BE/LE (and UTF-32 LE)


class RequestRefused(CdpError):
    """Refused before execution with a given HTTP status (and `extensions.limit`)."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        limit: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(code, message, field=field)
        self.status = status
        self.limit = limit
        self.headers: dict[str, str] = {}


def _malformed(message: str, *, field: str | None = None) -> RequestRefused:
    return RequestRefused(400, ErrorCode.BAD_USER_INPUT, message, field=field)


def _unsupported(message: str) -> RequestRefused:
    return RequestRefused(415, ErrorCode.BAD_USER_INPUT, message)


class _Refused(ValueError):
    """Raised inside json.loads by the hooks below; becomes a RequestRefused."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:  # json.dumps escapes what the key may hold (it is echoed back)
                raise _Refused(f"The key {json.dumps(key[:40])} appears twice in one object")
            seen.add(key)
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("A number in the body is out of range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count),
    in one pass over the characters that matter; stops once past `stop_above`."""
    deepest = depth = 0
    in_string = False
    for match in _SIGNIFICANT.finditer(text):
        token = match.group()
        if in_string:
            in_string = token != '"'  # an escape (a backslash and its character) is one token
        elif token == '"':
            in_string = True
        elif token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif token in "]}":
            depth -= 1
        else:
            break  # a backslash outside a string: the parser stops here too
    return deepest


def _surrogate_path(value: Any) -> str | None:
    """The path (`variables.input.name`) of the first string holding a lone surrogate."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
                return path or "body"
        elif isinstance(item, dict):
            for key, inner in item.items():
                where = f"{path}.{key}" if path else key
                if any(0xD800 <= ord(ch) <= 0xDFFF for ch in key):
                    return path or "body"
                pending.append((where, inner))
        elif isinstance(item, list):
            pending.extend((f"{path}.{n}" if path else str(n), v) for n, v in enumerate(item))
    return None


def parse_json(raw: bytes, *, max_depth: int) -> Any:
    """The JSON value of a UTF-8 body; RequestRefused (400, 415) for anything else."""
    if raw.startswith(_BOMS) or b"\x00" in raw:
        raise _unsupported("The request body must be UTF-8 encoded JSON (no BOM, not UTF-16/32)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _unsupported("The request body must be UTF-8 encoded JSON") from None
    if nesting_depth(text, stop_above=max_depth) > max_depth:
        raise RequestRefused(
            400,
            ErrorCode.QUERY_TOO_COMPLEX,
            f"The request body nests deeper than {max_depth} levels",
            limit="nesting",
        )
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_float=_float, parse_constant=_constant
        )
    except _Refused as exc:
        raise _malformed(str(exc)) from None
    except (ValueError, RecursionError):  # RecursionError: the scan above makes it unreachable
        raise _malformed("The request body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text):
        path = _surrogate_path(value)
        if path is not None:
            raise _malformed(f"{path} is not valid Unicode (a lone surrogate)", field=path)
    return value


def check_media_type(content_type: str | None) -> None:
    """`application/json`, with no charset or `charset=utf-8`; RequestRefused (415) else."""
    media, *parameters = (content_type or "").split(";")
    if media.strip().lower() != JSON:
        raise _unsupported("Content-Type must be application/json")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise _unsupported("The request body must be UTF-8: charset=utf-8 or none")


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


async def read_json(request: Request, *, limit: int, max_depth: int) -> Any:
    """The request's JSON body, checked as above; RequestRefused when it is not acceptable."""
    check_media_type(request.headers.get("content-type"))
    return parse_json(await read_body(request, limit), max_depth=max_depth)
