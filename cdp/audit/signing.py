"""Signed tree heads: (size, root, time) signed with an Ed25519 key of the keyring, by version.

Version 1 is derived from the audit key (an existing keyring signs without a change); `rotate`
adds a fresh random version, and older versions stay, so their heads still verify. Checking a
head needs the public keys alone (`public_keys_document`), never the keyring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cdp.crypto import Keyring

DERIVED_VERSION = 1
_LABEL = b"cdp/audit-tree-head/v1"


def private_keys(keyring: Keyring) -> dict[int, Ed25519PrivateKey]:
    """Every signing version of the keyring."""
    seeds = {DERIVED_VERSION: hmac.new(keyring.audit_key, _LABEL, hashlib.sha256).digest()}
    seeds.update(keyring.audit_signing_keys)
    return {v: Ed25519PrivateKey.from_private_bytes(seed) for v, seed in seeds.items()}


def active_version(keyring: Keyring) -> int:
    return max(private_keys(keyring))


def rotate(keyring: Keyring) -> Keyring:
    """The keyring with a new signing version, which signs every head from now on."""
    keys = dict(keyring.audit_signing_keys)
    keys[active_version(keyring) + 1] = secrets.token_bytes(32)
    return replace(keyring, audit_signing_keys=keys)


def _pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_keys_document(keyring: Keyring) -> dict[str, Any]:
    """{"keys": {version: PEM}}: what an outside auditor needs, and nothing secret."""
    return {
        "keys": {str(v): _pem(k.public_key()) for v, k in sorted(private_keys(keyring).items())}
    }


def load_public_keys(text: str) -> dict[int, Ed25519PublicKey]:
    """The public keys of a `public_keys_document` (JSON) or one PEM (taken as every version
    it signs); ValueError for anything else."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return {0: _load_pem(text)}
    try:
        keys = json.loads(text)["keys"]
        return {int(v): _load_pem(pem) for v, pem in keys.items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(
            "not a cdp audit public key (PEM, or the JSON of `cdp audit public-key`)"
        ) from None


def _load_pem(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    at: datetime
    key_version: int
    signature: bytes

    def message(self) -> bytes:
        return _message(self.size, self.root, self.at)

    def to_document(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "at": self.at.isoformat(timespec="microseconds"),
            "key_version": self.key_version,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> TreeHead:
        """ValueError for a document that is not a signed tree head."""
        try:
            return cls(
                size=int(document["size"]),
                root=bytes.fromhex(document["root"]),
                at=datetime.fromisoformat(document["at"]),
                key_version=int(document["key_version"]),
                signature=base64.b64decode(document["signature"], validate=True),
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError("not a cdp audit signed tree head") from None


def _message(size: int, root: bytes, at: datetime) -> bytes:
    return (
        f"cdp-audit-tree-head|{size}|{root.hex()}|{at.isoformat(timespec='microseconds')}".encode()
    )


def sign_head(keyring: Keyring, *, size: int, root: bytes, at: datetime) -> TreeHead:
    version = active_version(keyring)
    signature = private_keys(keyring)[version].sign(_message(size, root, at))
    return TreeHead(size=size, root=root, at=at, key_version=version, signature=signature)


def head_is_signed(head: TreeHead, public_keys: dict[int, Ed25519PublicKey]) -> bool:
    """Whether the head's signature holds under its version's key (or a lone PEM's)."""
    key = public_keys.get(head.key_version) or public_keys.get(0)
    if key is None:
        return False
    try:
        key.verify(head.signature, head.message())
    except InvalidSignature:
        return False
    return True


def sign_note(keyring: Keyring, *, kind: str, body: dict[str, Any], at: datetime) -> bytes:
    """An Ed25519 signature over a note of the log (`note_message`), with the active key."""
    return private_keys(keyring)[active_version(keyring)].sign(note_message(kind, body, at))


def note_message(kind: str, body: dict[str, Any], at: datetime) -> bytes:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return f"cdp-audit-note|{kind}|{text}|{at.isoformat(timespec='microseconds')}".encode()


def note_is_signed(
    kind: str,
    body: dict[str, Any],
    at: datetime,
    version: int,
    signature: bytes,
    public_keys: dict[int, Ed25519PublicKey],
) -> bool:
    """Whether a note's signature holds under its version's key (or a lone PEM's)."""
    key = public_keys.get(version) or public_keys.get(0)
    if key is None:
        return False
    try:
        key.verify(signature, note_message(kind, body, at))
    except InvalidSignature:
        return False
    return True
