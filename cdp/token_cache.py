"""Access tokens of WeChat apps and the WeCom app in Redis (`CDP_REDIS_URL`), shared by every
instance: read before the database and written beside it.

The database keeps its copy (`wechat_app_tokens`, `provider_tokens`), so a deployment without
Redis, and one whose Redis does not answer, shares tokens through it as before: a lost Redis
never makes cdp ask WeChat or WeCom for more tokens than their caps allow. What reaches Redis
is the token as its owner sealed it (AES-256-GCM under a key derived from the keyring), with
its times; the key expires with the token.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from cdp.db import Database, as_utc

log = logging.getLogger(__name__)
FALLBACKS = Counter(
    "cdp_token_cache_fallbacks",
    "Access tokens read from or written to the database only, because Redis did not answer.",
)
_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A sealed token (base64 text, as its owner stores it) and when it was fetched and ends."""

    sealed: str
    fetched_at: datetime
    expires_at: datetime


class RedisTokens:
    """Sealed tokens under `cdp:token:<name>`; a miss, or None while Redis does not answer."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(
            url,
            socket_timeout=_TIMEOUT_SECONDS,
            socket_connect_timeout=_TIMEOUT_SECONDS,
            retry_on_timeout=False,
        )
        self._warned = 0.0

    async def get(self, name: str) -> CachedToken | None:
        from redis.exceptions import RedisError

        try:
            raw = await self.redis.get(f"cdp:token:{name}")
        except (RedisError, OSError) as exc:
            self._fell_back(exc)
            return None
        if raw is None:
            return None
        try:
            held = json.loads(raw)
            return CachedToken(
                sealed=str(held["sealed"]),
                fetched_at=as_utc(datetime.fromisoformat(held["fetched_at"])),
                expires_at=as_utc(datetime.fromisoformat(held["expires_at"])),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not written by this version: the database's copy serves

    async def put(self, name: str, token: CachedToken, *, now: datetime) -> None:
        from redis.exceptions import RedisError

        ttl = int((token.expires_at - now).total_seconds())
        if ttl <= 0:
            return
        value = json.dumps(
            {
                "sealed": token.sealed,
                "fetched_at": token.fetched_at.isoformat(),
                "expires_at": token.expires_at.isoformat(),
            }
        )
        try:
            await self.redis.set(f"cdp:token:{name}", value, ex=ttl)
        except (RedisError, OSError) as exc:
            self._fell_back(exc)

    def _fell_back(self, exc: BaseException) -> None:
        FALLBACKS.inc()
        if time.monotonic() - self._warned > 10:  # one line per ten seconds, not per call
            self._warned = time.monotonic()
            log.warning(
                "access tokens: Redis did not answer; the database's copy serves",
                extra={"error_type": type(exc).__qualname__},
            )

    async def aclose(self) -> None:
        await self.redis.aclose()


async def shared_token(
    database: Database, name: str, model: type[Any], key: str, *, now: datetime
) -> CachedToken | None:
    """The token `name` as Redis holds it, else as the database's row of `model` (with
    `sealed_token`, `fetched_at`, `expires_at`) at `key` holds it, then handed to Redis."""
    cache = token_cache_for(database)
    shared = await cache.get(name) if cache is not None else None
    if shared is not None:
        return shared
    async with database.transaction() as session:
        row = await session.get(model, key, populate_existing=True)
        if row is None:
            return None
        shared = CachedToken(row.sealed_token, as_utc(row.fetched_at), as_utc(row.expires_at))
    if cache is not None:
        await cache.put(name, shared, now=now)
    return shared


_CACHES: weakref.WeakKeyDictionary[Database, RedisTokens] = weakref.WeakKeyDictionary()


def token_cache_for(database: Database) -> RedisTokens | None:
    """The deployment's Redis for tokens (one client per database object), or None."""
    url = database.settings.redis_url
    if url is None:
        return None
    cache = _CACHES.get(database)
    if cache is None:
        cache = _CACHES[database] = RedisTokens(url.get_secret_value())
    return cache
