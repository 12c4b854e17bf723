"""Keyring, envelope encryption and blind indexes for personal data.

Stored value (format 1): b"\\x01" | data-key id (8 bytes, big-endian) | nonce (12) | AES-GCM
ciphertext and tag. The associated data binds it to table, column and row, so a value copied
elsewhere fails to decrypt. Data keys are wrapped by a versioned key-encryption key (KEK).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER = 1 + 8
KEYRING_FORMAT = 1


class CryptoError(Exception):
    """A value that cannot be decrypted: tampered, truncated, or not from this row and field."""


class KeyringError(Exception):
    """A keyring that is missing, unreadable or unfit; the message is one line for an operator."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeyringError(f"keyring: {what} is not base64") from None
    if len(value) != KEY_BYTES:
        raise KeyringError(f"keyring: {what} must be {KEY_BYTES} bytes")
    return value


@dataclass(frozen=True)
class Keyring:
    """Key-encryption keys by version (the highest wraps new data keys), the blind-index key
    and the audit key. `development` marks a keyring that production refuses.

    `audit_signing_keys`: the Ed25519 seeds of signing versions 2 and up (`cdp audit
    rotate-key`); version 1 is derived from the audit key (see `cdp.audit.signing`)."""

    keks: dict[int, bytes]
    blind_index_key: bytes
    audit_key: bytes
    development: bool = False
    audit_signing_keys: dict[int, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Keyring(versions={sorted(self.keks)}, development={self.development})"

    @property
    def active_version(self) -> int:
        return max(self.keks)

    @classmethod
    def generate(cls, *, development: bool) -> Keyring:
        return cls(
            keks={1: secrets.token_bytes(KEY_BYTES)},
            blind_index_key=secrets.token_bytes(KEY_BYTES),
            audit_key=secrets.token_bytes(KEY_BYTES),
            development=development,
        )

    def with_new_version(self) -> Keyring:
        keks = dict(self.keks)
        keks[self.active_version + 1] = secrets.token_bytes(KEY_BYTES)
        return replace(self, keks=keks)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "development": self.development,
                "keks": {str(v): _b64(k) for v, k in sorted(self.keks.items())},
                "blind_index_key": _b64(self.blind_index_key),
                "audit_key": _b64(self.audit_key),
                **(
                    {
                        "audit_signing_keys": {
                            str(v): _b64(k) for v, k in sorted(self.audit_signing_keys.items())
                        }
                    }
                    if self.audit_signing_keys
                    else {}
                ),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
            keks = {int(v): _unb64(k, f"KEK version {v}") for v, k in data["keks"].items()}
            keyring = cls(
                keks=keks,
                blind_index_key=_unb64(data["blind_index_key"], "blind_index_key"),
                audit_key=_unb64(data["audit_key"], "audit_key"),
                development=bool(data.get("development", False)),
                audit_signing_keys={
                    int(v): _unb64(k, f"audit signing key version {v}")
                    for v, k in data.get("audit_signing_keys", {}).items()
                },
            )
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyringError("keyring: not a cdp keyring file") from None
        if data.get("format") != KEYRING_FORMAT or not keks:
            raise KeyringError("keyring: unsupported format or no key-encryption key")
        return keyring

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyringError(f"keyring: no keyring at {path}") from None
        except OSError as exc:
            raise KeyringError(f"keyring: cannot read {path}: {exc.strerror}") from None

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600: a crash never leaves a half-written keyring."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- data keys -------------------------------------------------------------------------

    def wrap(self, data_key: bytes, *, data_key_id: int) -> tuple[int, bytes]:
        """(KEK version, wrapped key) for a data key, bound to its id."""
        version = self.active_version
        nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = AESGCM(self.keks[version]).encrypt(nonce, data_key, _wrap_aad(data_key_id))
        return version, nonce + wrapped

    def unwrap(self, wrapped: bytes, *, kek_version: int, data_key_id: int) -> bytes:
        kek = self.keks.get(kek_version)
        if kek is None:
            raise CryptoError(f"data key {data_key_id} is wrapped by unknown KEK v{kek_version}")
        try:
            return AESGCM(kek).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(data_key_id)
            )
        except InvalidTag:
            raise CryptoError(f"data key {data_key_id} failed authentication") from None

    def derived_key(self, label: bytes) -> bytes:
        """A key for one purpose (`label`: the erasure journal, page cursors), derived from the
        blind-index key by HMAC-SHA256, which reveals nothing of that key. The blind-index key
        never changes while the data it indexes lives, unlike KEKs, which are retired."""
        return hmac.new(self.blind_index_key, label, hashlib.sha256).digest()

    def journal_key(self) -> bytes:
        """The erasure journal's signing key."""
        return self.derived_key(b"cdp/erasure-journal/v1")

    def without_version(self, version: int) -> Keyring:
        """The keyring without KEK `version` (never the active one)."""
        if version == self.active_version:
            raise KeyringError(f"keyring: v{version} is the active version")
        if version not in self.keks:
            raise KeyringError(f"keyring: no KEK version {version}")
        return replace(self, keks={v: k for v, k in self.keks.items() if v != version})

    # --- blind index -------------------------------------------------------------------------

    def blind_index(self, kind: str, normalized: str) -> bytes:
        """HMAC-SHA256 (full 32 bytes) of a normalised value, separated by kind."""
        return hmac.new(
            self.blind_index_key, f"{kind}\x1f{normalized}".encode(), hashlib.sha256
        ).digest()


def _wrap_aad(data_key_id: int) -> bytes:
    return f"cdp/data-key/{data_key_id}".encode()


def field_aad(table: str, column: str, row_id: int | str) -> bytes:
    """What a ciphertext is bound to: one column of one row of one table (the row by its
    surrogate id, or by a natural key that is unique and never changes)."""
    return f"cdp/v{FORMAT_VERSION}/{table}/{column}/{row_id}".encode()


def seal(
    key: bytes, plaintext: bytes, *, data_key_id: int, aad: bytes, nonce: bytes | None = None
) -> bytes:
    """Encrypt under a data key; `nonce` is for golden vectors only (random otherwise)."""
    nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
    header = bytes([FORMAT_VERSION]) + data_key_id.to_bytes(8, "big")
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def data_key_id_of(blob: bytes) -> int:
    if len(blob) < _HEADER + NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
        raise CryptoError("not an encrypted value of a known format")
    return int.from_bytes(blob[1:_HEADER], "big")


def open_sealed(key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    data_key_id_of(blob)
    header = blob[:_HEADER]
    nonce, body = blob[_HEADER : _HEADER + NONCE_BYTES], blob[_HEADER + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise CryptoError(
            "encrypted value failed authentication: tampered, or not from this row and field"
        ) from None
