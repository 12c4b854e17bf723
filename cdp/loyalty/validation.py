"""Checks shared by the loyalty and commerce inputs: idempotency keys, reasons, titles."""

from __future__ import annotations

import unicodedata

from cdp.errors import bad_input
from cdp.loyalty.models import IDEMPOTENCY_KEY_MAX

REASON_MAX = 200


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def clean_key(value: str, *, field: str = "idempotencyKey") -> str:
    key = value.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or _has_control(key):
        raise bad_input(
            f"{field} must be 1-{IDEMPOTENCY_KEY_MAX} printable characters", field=field
        )
    if key.startswith("cdp:"):
        raise bad_input(f"{field} must not start with 'cdp:' (reserved)", field=field)
    return key


def clean_text(value: str, *, field: str, max_length: int) -> str:
    text = " ".join(value.split())
    if not text or len(text) > max_length or _has_control(text):
        raise bad_input(f"{field} must be 1-{max_length} printable characters", field=field)
    return text


def clean_reason(value: str | None) -> str | None:
    return None if value is None else clean_text(value, field="reason", max_length=REASON_MAX)
