"""The one validator of free text from outside: names, tags, purposes, reasons, titles, keys.

Refused everywhere: what is not a Unicode scalar value (a lone surrogate cannot be encoded,
so it fails at the database or the response), control characters (C0, DEL, C1: a newline or
an escape in an audited purpose or a log line forges records and terminals), and the
bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make text read
differently from what it holds. Single-line fields (every argument of the API) allow no
control character at all; multi-line values (strings inside event properties) allow tab,
newline and carriage return.
"""

from __future__ import annotations

from cdp.errors import bad_input

BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
LINE_BREAKS = frozenset("\t\n\r")
IDEMPOTENCY_KEY_MAX = 128
RESERVED_KEY_PREFIX = "cdp:"


def text_fault(value: str, *, multiline: bool = False) -> str | None:
    """What makes `value` unacceptable as text from outside, or None when it is fine."""
    for ch in value:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return "is not valid Unicode (a lone surrogate)"
        if code < 0x20 or 0x7F <= code <= 0x9F:
            if multiline and ch in LINE_BREAKS:
                continue
            return "must not contain control characters"
        if ch in BIDI_CONTROLS:
            return "must not contain bidirectional control characters"
    return None


def check_text(value: str, *, field: str, multiline: bool = False) -> str:
    """`value` unchanged; BAD_USER_INPUT naming `field` when `text_fault` finds something."""
    fault = text_fault(value, multiline=multiline)
    if fault is not None:
        raise bad_input(f"{field} {fault}", field=field)
    return value


def clean_text(value: str, *, field: str, max_length: int) -> str:
    """Single-line text with runs of spaces collapsed; 1-`max_length` characters."""
    check_text(value, field=field)
    text = " ".join(value.split())
    if not text:
        raise bad_input(f"{field} must not be blank", field=field)
    if len(text) > max_length:
        raise bad_input(f"{field} is longer than {max_length} characters", field=field)
    return text


def clean_optional_text(value: str | None, *, field: str, max_length: int) -> str | None:
    return None if value is None else clean_text(value, field=field, max_length=max_length)


def clean_key(value: str, *, field: str = "idempotencyKey") -> str:
    """An idempotency key: 1-128 printable characters, not in cdp's reserved `cdp:` space."""
    check_text(value, field=field)
    key = value.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise bad_input(f"{field} must be 1-{IDEMPOTENCY_KEY_MAX} characters", field=field)
    if key.startswith(RESERVED_KEY_PREFIX):
        raise bad_input(f"{field} must not start with 'cdp:' (reserved)", field=field)
    return key


def check_json_text(value: object, *, field: str) -> None:
    """Every key (single-line) and string (multi-line) of a JSON value, iteratively."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_text(item, field=field, multiline=True)
        elif isinstance(item, dict):
            for key, inner in item.items():
                check_text(str(key), field=field)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)


def printable(value: str, *, limit: int = 200) -> str:
    """`value` with anything `text_fault` would refuse replaced by '?', cut to `limit`: for
    client-controlled text that must land in a log line."""
    return "".join("?" if text_fault(ch) else ch for ch in value[:limit])
