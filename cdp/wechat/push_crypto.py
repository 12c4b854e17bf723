"""WeChat's message push signatures and safe mode (安全模式) encryption.

`signature` = sha1 of the sorted token, timestamp and nonce (plaintext mode and the server
check); `msg_signature` adds the `Encrypt` text. Safe mode is AES-256-CBC under
base64(EncodingAESKey + "="), IV its first 16 bytes, PKCS#7 to 32-byte blocks, over
16 random bytes + 4-byte big-endian length + message + AppID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
MAX_ENCRYPTED_CHARS = 2 * 1024 * 1024


class PushCryptoError(Exception):
    """What failed, in words with no value of the message: `reason` is a fixed code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 over the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.lower().encode())


class PushCipher:
    """One app's safe-mode cipher: decrypts what WeChat sent, encrypts (tests, replies)."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise PushCryptoError("KEY", "the EncodingAESKey is not base64") from None
        if len(key) != 32:
            raise PushCryptoError("KEY", "the EncodingAESKey is not 32 bytes")
        self._key, self._app_id = key, app_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: bytes, *, random: bytes | None = None) -> str:
        """Base64 of the encrypted message; `random` (16 bytes) for published vectors only."""
        head = random if random is not None else secrets.token_bytes(16)
        if len(head) != 16:
            raise ValueError("random must be 16 bytes")
        plain = head + struct.pack(">I", len(message)) + message + self._app_id
        pad = BLOCK - len(plain) % BLOCK
        encryptor = self._cipher().encryptor()
        sealed = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
        return base64.b64encode(sealed).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The message inside `encrypted`; PushCryptoError for anything that is not WeChat's
        encryption for this app (bad base64, padding, length or AppID)."""
        if len(encrypted) > MAX_ENCRYPTED_CHARS:
            raise PushCryptoError("ENCRYPT", "Encrypt is too long")
        try:
            sealed = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise PushCryptoError("ENCRYPT", "Encrypt is not base64") from None
        if not sealed or len(sealed) % 16:
            raise PushCryptoError("ENCRYPT", "Encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(sealed) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise PushCryptoError("ENCRYPT", "Encrypt has bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise PushCryptoError("ENCRYPT", "Encrypt is too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise PushCryptoError("ENCRYPT", "Encrypt has a bad length")
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(app_id, self._app_id):
            raise PushCryptoError("APP_ID", "the message was encrypted for another app")
        return message
