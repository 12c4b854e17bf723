"""Where the process gets its keyring: the file of `CDP_KEYRING`, re-read when it changes
(`cdp keys rotate` in another process adds a version the running servers must learn)."""

from __future__ import annotations

import logging
from pathlib import Path

from cdp.config import ConfigError, Settings
from cdp.crypto import Keyring, KeyringError

log = logging.getLogger("cdp.keys")


class KeyringSource:
    def __init__(self, path: Path, keyring: Keyring) -> None:
        self.path = path
        self.keyring = keyring
        self._mtime = self._stat()

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def refresh(self) -> Keyring:
        """Re-read the file if it changed since it was loaded; the keyring in force."""
        mtime = self._stat()
        if mtime and mtime != self._mtime:
            self.keyring = Keyring.load(self.path)
            self._mtime = mtime
            log.info("keyring reloaded", extra={"versions": sorted(self.keyring.keks)})
        return self.keyring

    @classmethod
    def fixed(cls, keyring: Keyring) -> KeyringSource:
        """A source that never reloads (tests and one-off tools)."""
        source = cls.__new__(cls)
        source.path, source.keyring, source._mtime = Path("/nonexistent"), keyring, 0.0
        return source


def load_keyring(settings: Settings, *, create_in_development: bool = True) -> KeyringSource:
    """The configured keyring; production refuses a missing or development keyring."""
    path = settings.keyring
    if not path.exists():
        if settings.is_production:
            raise ConfigError(f"bad configuration: CDP_KEYRING: no keyring at {path}")
        if not create_in_development:
            raise ConfigError(f"bad configuration: CDP_KEYRING: no keyring at {path}")
        Keyring.generate(development=True).save(path)
        log.warning("created a development keyring", extra={"path": str(path)})
    try:
        keyring = Keyring.load(path)
    except KeyringError as exc:
        raise ConfigError(f"bad configuration: CDP_KEYRING: {exc}") from None
    if settings.is_production and keyring.development:
        raise ConfigError("bad configuration: CDP_KEYRING is a development keyring")
    return KeyringSource(path, keyring)
