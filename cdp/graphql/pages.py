"""Cursor pagination shared by every list: `first` (1-100) and an opaque `after` cursor."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import strawberry

from cdp.errors import CdpError, bad_input
from cdp.json_body import parse_json

MAX_FIRST = 100
DEFAULT_FIRST = 20
MAX_CURSOR_LENGTH = 256


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise bad_input(f"first must be 1-{MAX_FIRST}", field="first")
    return first


def encode_cursor(kind: str, *parts: Any) -> str:
    raw = json.dumps([kind, *parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, kind: str, arity: int, *, text_at: frozenset[int] = frozenset()
) -> list[Any] | None:
    """The parts of a cursor made by `encode_cursor(kind, ...)`; BAD_USER_INPUT otherwise.
    A client can send anything here: parts are 64-bit integers, or short strings at the
    positions `text_at` names, or the cursor is refused."""
    if cursor is None:
        return None
    value: Any = None
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            value = parse_json(base64.urlsafe_b64decode(padded.encode()), max_depth=1)
        except (CdpError, ValueError, binascii.Error):
            value = None
    if (
        not isinstance(value, list)
        or len(value) != arity + 1
        or value[0] != kind
        or not all(_usable_part(part, n in text_at) for n, part in enumerate(value[1:]))
    ):
        raise bad_input("after is not a cursor from this list", field="after")
    return value[1:]


def _usable_part(part: Any, text: bool) -> bool:
    if text:
        return isinstance(part, str) and len(part) <= 64
    return type(part) is int and -(2**63) <= part < 2**63
