"""A per-principal request budget: a token bucket per key, refilled continuously.

In-process: the buckets of one process (the embedded default, and the fallback while Redis
does not answer; `cdp.rate_stores` shares budgets across processes). Idle buckets are dropped,
so memory is bounded by the keys active recently.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests per key per minute, with bursts of up to `per_minute`; 0 is off."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s budget: 0.0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_KEYS:
                self._drop_full(now)
            bucket = self.buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket at all.
        full_after = self.capacity / self.rate
        for key in [k for k, b in self.buckets.items() if now - b.updated >= full_after]:
            del self.buckets[key]
        if len(self.buckets) >= MAX_KEYS:  # a flood of fresh keys: forget the oldest half
            for key in sorted(self.buckets, key=lambda k: self.buckets[k].updated)[: MAX_KEYS // 2]:
                del self.buckets[key]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
