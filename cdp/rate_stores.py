"""Where rate budgets are kept, so that every instance and worker spends from the same one.

- Redis (`CDP_REDIS_URL`): a token bucket per key in one Lua script (atomic, Redis's own
  clock). Redis unreachable: each process falls back to its own buckets, never to no limit
  (at most N times the rate across N processes until Redis answers again), and says so in
  the log and in `cdp_rate_limit_store_fallbacks_total`.
- PostgreSQL, when no Redis is configured: one upsert per request on `rate_budgets`, in a
  transaction of its own that does not wait for the disk (a budget is not worth a flush).
- In-process buckets for the embedded SQLite default (one process).

Keys are stored as SHA-256 digests: no address or subject is written to Redis or the
database by a budget.
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from prometheus_client import Counter
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime
from cdp.config import Settings
from cdp.db import Database
from cdp.metrics import REFUSALS
from cdp.rate_limit import RateLimiter

log = logging.getLogger(__name__)
FALLBACKS = Counter(
    "cdp_rate_limit_store_fallbacks",
    "Budgets taken from this process's own buckets because Redis did not answer.",
)
_REDIS_TIMEOUT_SECONDS = 0.25
_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(held[1]) or capacity
local updated = tonumber(held[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class RateBudget(SQLModel, table=True):
    """One budget's token bucket (PostgreSQL's store), keyed by the digest of budget and key."""

    __tablename__ = "rate_budgets"

    key: str = Field(max_length=64, primary_key=True)
    tokens: float = Field(nullable=False)
    refused: bool = Field(nullable=False)
    updated_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class BudgetStore(Protocol):
    async def take(self, key: str, per_minute: int) -> float:
        """One request from `key`'s budget of `per_minute`: 0.0, or the seconds to wait."""

    async def aclose(self) -> None: ...


class LocalStore:
    """This process's own buckets (`cdp.rate_limit.RateLimiter`), one set per budget size."""

    def __init__(self) -> None:
        self.limiters: dict[int, RateLimiter] = {}

    async def take(self, key: str, per_minute: int) -> float:
        limiter = self.limiters.get(per_minute)
        if limiter is None:
            limiter = self.limiters[per_minute] = RateLimiter(per_minute)
        return limiter.acquire(key)

    async def aclose(self) -> None:
        return None


class PostgresStore:
    """Budgets in `rate_budgets`, shared by every instance on the database."""

    _TAKE = sa.text(
        """INSERT INTO rate_budgets AS b (key, tokens, refused, updated_at)
           SELECT :key, :capacity - 1, false, clock_timestamp()
           FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed
           ON CONFLICT (key) DO UPDATE SET
             tokens = CASE WHEN least(:capacity, b.tokens + :rate * extract(epoch FROM
                          clock_timestamp() - b.updated_at)) >= 1
                      THEN least(:capacity, b.tokens + :rate * extract(epoch FROM
                          clock_timestamp() - b.updated_at)) - 1
                      ELSE least(:capacity, b.tokens + :rate * extract(epoch FROM
                          clock_timestamp() - b.updated_at)) END,
             refused = least(:capacity, b.tokens + :rate * extract(epoch FROM
                          clock_timestamp() - b.updated_at)) < 1,
             updated_at = clock_timestamp()
           RETURNING tokens, refused"""
    )

    def __init__(self, database: Database) -> None:
        self.database = database

    async def take(self, key: str, per_minute: int) -> float:
        rate = per_minute / 60.0
        async with self.database.transaction() as session:  # committed without a flush
            tokens, refused = (
                await session.execute(
                    self._TAKE, {"key": digest(key), "capacity": float(per_minute), "rate": rate}
                )
            ).one()
        return (1.0 - float(tokens)) / rate if refused else 0.0

    async def aclose(self) -> None:
        return None


class RedisStore:
    """Budgets in Redis; this process's own buckets while Redis does not answer."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(
            url,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            retry_on_timeout=False,
        )
        self.script = self.redis.register_script(_BUCKET)
        self.fallback = LocalStore()
        self._warned = 0.0

    async def take(self, key: str, per_minute: int) -> float:
        from redis.exceptions import RedisError

        try:
            wait = await self.script(
                keys=[f"cdp:budget:{digest(key)}"], args=[per_minute, per_minute / 60.0]
            )
            return float(wait)
        except (RedisError, OSError) as exc:
            FALLBACKS.inc()
            if time.monotonic() - self._warned > 10:  # one line per ten seconds, not per request
                self._warned = time.monotonic()
                log.warning(
                    "rate budgets: Redis did not answer; this process's own buckets apply",
                    extra={"error_type": type(exc).__qualname__},
                )
            return await self.fallback.take(key, per_minute)

    async def aclose(self) -> None:
        await self.redis.aclose()


_STORES: weakref.WeakKeyDictionary[Database, BudgetStore] = weakref.WeakKeyDictionary()


def store_for(settings: Settings, database: Database) -> BudgetStore:
    """The deployment's store, one per database object (an app's routes share it): Redis
    when configured, else PostgreSQL, else this process."""
    store = _STORES.get(database)
    if store is None:
        if settings.redis_url is not None:
            store = RedisStore(settings.redis_url.get_secret_value())
        elif database.dialect == "postgresql":
            store = PostgresStore(database)
        else:
            store = LocalStore()
        _STORES[database] = store
    return store


class Budget:
    """`per_minute` requests per key per minute (bursts up to as many), 0 is off, spent from
    the deployment's store; `name` is the budget's kind in the refusals metric."""

    def __init__(self, per_minute: int, *, name: str, store: BudgetStore) -> None:
        self.per_minute, self.name, self.store = per_minute, name, store
        self.capacity = float(per_minute)

    async def take(self, key: str) -> float:
        """One request from `key`'s budget: 0.0 when allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        wait = await self.store.take(f"{self.name}:{key}", self.per_minute)
        if wait:
            REFUSALS.labels(self.name).inc()
        return wait
