"""Cursor pagination shared by every list: `first` (1-100) and an opaque, signed `after` cursor.

A cursor is base64url(JSON [kind, *position] | tag), the tag the first 16 bytes of
HMAC-SHA256 under a key derived from the keyring (never the raw key). The kind names the list
that issued it, so a cursor is refused by every other list, and nobody without the keyring can
make one: a forged, truncated, re-signed or foreign cursor is BAD_USER_INPUT, never INTERNAL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from cdp.crypto import Keyring
from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type

MAX_FIRST = 100
DEFAULT_FIRST = 20
TAG_BYTES = 16
MAX_CURSOR_CHARS = 256  # every cursor issued is far shorter; longer ones are not decoded
MAX_POSITION = 2**63 - 1  # a BIGINT: anything larger never came from a row
_CURSOR_LABEL = b"cdp/page-cursor/v1"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


T = TypeVar("T")
Row = TypeVar("Row")

First = Annotated[int, strawberry.argument(description=f"How many items to return: 1-{MAX_FIRST}.")]
After = Annotated[
    str | None,
    strawberry.argument(
        description="The `pageInfo.endCursor` of the previous page of this same list; "
        "null for the first page."
    ),
]


@object_type("PageInfo", description="Where a page of a list ends, and whether more follow.")
class PageInfo:
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null when the page is empty."
    )
    has_next_page: bool = strawberry.field(description="Whether items follow this page.")


@object_type(description="One page of a list, in the list's order.")
class Page(Generic[T]):
    """Each list declares its page as a named subclass, `class OrderPage(Page[OrderType])`
    under `object_type("OrderPage", ...)`: the SDL name is explicit, and the page can be
    a lazy reference from another module (a generic alias cannot)."""

    items: list[T] = strawberry.field(description=f"At most `first` (1-{MAX_FIRST}) items.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


def _last_id(row: Any) -> tuple[int]:
    return (row.id,)


def page_of(
    info: Info,
    kind: str,
    rows: Sequence[Row],
    first: int,
    position: Callable[[Row], tuple[int | datetime | None, ...]] = _last_id,
) -> tuple[list[Row], PageInfo]:
    """The page of `rows` (fetched `first + 1`, so one more tells whether more follow) and
    its PageInfo, the end cursor of list `kind` at the last row's `position` (its id)."""
    page = list(rows[:first])
    return page, PageInfo(
        end_cursor=encode_cursor(info, kind, *position(page[-1])) if page else None,
        has_next_page=len(rows) > first,
    )


async def id_page(
    info: Info,
    kind: str,
    first: int,
    after: str | None,
    fetch: Callable[..., Awaitable[Sequence[Row]]],
) -> tuple[list[Row], PageInfo]:
    """A page of list `kind` newest first by id: `fetch(session=, limit=, before=)` reads
    `first + 1` rows below the cursor's id (None: from the newest) in a read session."""
    check_first(first)
    before = decode_int(info, after, kind)
    async with info.context.uow.session() as session:
        rows = await fetch(session=session, limit=first + 1, before=before)
    return page_of(info, kind, rows, first)


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise bad_input(f"first must be 1-{MAX_FIRST}", field="first")
    return first


def cursor_key(keyring: Keyring) -> bytes:
    """The key that signs page cursors (derived like the journal's, so cursors survive a KEK
    rotation)."""
    return keyring.derived_key(_CURSOR_LABEL)


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:TAG_BYTES]


def encode_cursor(info: Info, kind: str, *position: int | datetime | None) -> str:
    """A signed cursor for the list `kind` at `position` (ids, offsets, instants)."""
    return sign_cursor(info.context.vault.keyring, kind, *position)


def sign_cursor(keyring: Keyring, kind: str, *position: int | datetime | None) -> str:
    if None in position:
        raise ValueError("a cursor needs the position of a stored row")
    parts = [p.isoformat() if isinstance(p, datetime) else p for p in position]
    payload = json.dumps([kind, *parts], separators=(",", ":")).encode()
    raw = payload + _tag(cursor_key(keyring), payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refused(argument: str) -> Exception:
    return bad_input(f"{argument} is not a cursor from this list", field=argument)


def _verified(keyring: Keyring, cursor: str, kind: str, arity: int, argument: str) -> list[Any]:
    """The position parts of a cursor this list issued; BAD_USER_INPUT otherwise."""
    if len(cursor) > MAX_CURSOR_CHARS or not _ALPHABET.fullmatch(cursor):
        raise _refused(argument)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise _refused(argument) from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != cursor:
        raise _refused(argument)  # only the one spelling issued (base64 has spare bits)
    payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, _tag(cursor_key(keyring), payload)):
        raise _refused(argument)
    try:
        value = json.loads(payload)
    except ValueError:
        raise _refused(argument) from None
    if not isinstance(value, list) or len(value) != arity + 1 or value[0] != kind:
        raise _refused(argument)
    return value[1:]


def _position(value: Any, argument: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_POSITION:
        raise _refused(argument)
    return value


def decode_int(info: Info, cursor: str | None, kind: str, *, argument: str = "after") -> int | None:
    """The id or offset in a cursor of the list `kind`; None without a cursor."""
    if cursor is None:
        return None
    [value] = _verified(info.context.vault.keyring, cursor, kind, 1, argument)
    return _position(value, argument)


def decode_time_and_int(
    info: Info, cursor: str | None, kind: str, *, argument: str = "after"
) -> tuple[datetime, int] | None:
    """The (instant, id) in a cursor of the list `kind`; None without a cursor."""
    if cursor is None:
        return None
    instant, value = _verified(info.context.vault.keyring, cursor, kind, 2, argument)
    if not isinstance(instant, str):
        raise _refused(argument)
    try:
        at = datetime.fromisoformat(instant)
    except ValueError:
        raise _refused(argument) from None
    return at, _position(value, argument)
