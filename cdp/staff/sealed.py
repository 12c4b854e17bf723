"""Provider credentials cdp keeps to use again (an OIDC refresh token, a WeCom access token),
sealed with AES-256-GCM under a key derived from the keyring and bound to what they are for,
so a database reader gets nothing usable and a value moved to another row fails to open."""

from __future__ import annotations

import base64

from cdp.crypto import CryptoError, Keyring, open_sealed, seal

_LABEL = b"cdp/staff/provider-credentials/v1"


def _aad(purpose: str) -> bytes:
    return f"cdp/staff/{purpose}".encode()


def seal_credential(keyring: Keyring, purpose: str, value: str) -> str:
    """`value` sealed for `purpose` (e.g. `oidc-refresh:<session public id>`), as text."""
    blob = seal(keyring.derived_key(_LABEL), value.encode(), data_key_id=0, aad=_aad(purpose))
    return base64.b64encode(blob).decode()


def open_credential(keyring: Keyring, purpose: str, sealed: str) -> str | None:
    """The sealed value, or None when it does not open (another purpose, tampered, another
    keyring): the caller then asks the provider afresh."""
    try:
        return open_sealed(
            keyring.derived_key(_LABEL), base64.b64decode(sealed), aad=_aad(purpose)
        ).decode()
    except (CryptoError, ValueError):
        return None
