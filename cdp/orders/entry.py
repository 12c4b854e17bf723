"""Entry parameters: what brands put in links (`from=article&id=123`, `from=menu&type=home`)
to learn which article, menu or video brought a person in."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from cdp.errors import bad_input
from cdp.text import check_text, text_fault

MAX_LENGTH = 512
MAX_PARAMS = 10
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
VALUE_MAX = 64
SOURCE_MAX = 32


def parse_entry(entry: str | None, *, field: str = "entry") -> tuple[str | None, dict[str, str]]:
    """(`from` value, the other parameters) of a query string; BAD_USER_INPUT if malformed."""
    if entry is None or not entry.strip():
        return None, {}
    text = check_text(entry, field=field).strip().removeprefix("?")
    if len(text) > MAX_LENGTH:
        raise bad_input(f"{field} is longer than {MAX_LENGTH} characters", field=field)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise bad_input(f"{field} must look like from=article&id=123", field=field) from None
    if len(pairs) > MAX_PARAMS:
        raise bad_input(f"{field} has more than {MAX_PARAMS} parameters", field=field)
    params: dict[str, str] = {}
    for key, value in pairs:
        if not _KEY.fullmatch(key) or key in params:
            raise bad_input(f"{field} has a bad or repeated parameter name", field=field)
        # Decoded, a value may hold what the raw text did not (%0A, %E2%80%AE): checked again.
        if len(value) > VALUE_MAX or text_fault(value) is not None:
            raise bad_input(f"{field} parameter {key} is too long or not printable", field=field)
        params[key] = value
    source = params.pop("from", None)
    if source is not None and not 1 <= len(source) <= SOURCE_MAX:
        raise bad_input(f"{field} 'from' must be 1-{SOURCE_MAX} characters", field=field)
    return source, params
