"""Cursor pagination shared by every list: `first` (1-100) and an opaque `after` cursor."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import strawberry

from cdp.errors import bad_input

MAX_FIRST = 100
DEFAULT_FIRST = 20


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


def decode_cursor(cursor: str | None, kind: str, arity: int) -> list[Any] | None:
    """The parts of a cursor made by `encode_cursor(kind, ...)`; BAD_USER_INPUT otherwise."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        value = None
    if not isinstance(value, list) or len(value) != arity + 1 or value[0] != kind:
        raise bad_input("after is not a cursor from this list", field="after")
    return value[1:]
