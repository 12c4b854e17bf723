"""Tencent Cloud API 3.0's request signature (TC3-HMAC-SHA256), as documented: a canonical
request over the method, the signed headers and the body's hash, signed by a key derived from
the SecretKey, the date and the service. The SMS provider signs with it; a fake checks it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(
    *, secret_key: str, service: str, host: str, operation: str, timestamp: int, payload: bytes
) -> tuple[str, str]:
    """The credential scope (`date/service/tc3_request`) and the hex signature of a POST."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        (
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{operation.lower()}\n",
            SIGNED_HEADERS,
            _sha256(payload),
        )
    )
    scope = f"{day}/{service}/tc3_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{_sha256(canonical.encode())}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), service), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(*, secret_id: str, scope: str, signature: str) -> str:
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, "
        f"Signature={signature}"
    )
