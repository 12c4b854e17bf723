"""The miss cap: an actor's not-found lookups in a sliding window, counted in the database so
that every worker shares it, and the flags that make an enumeration visible in the audit log.

Support sees `130****9694`: the hidden middle is 10,000 candidates, each a lookup. Misses are
what an enumeration produces, so misses are capped; past the cap every lookup of the actor is
refused before it runs (a hit too: a refusal that only misses got would itself answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit.trail import record
from cdp.config import Settings
from cdp.crypto import Keyring
from cdp.db import lock_names
from cdp.errors import Throttled
from cdp.lookups.models import LookupMiss
from cdp.masks import mask_phone
from cdp.profiles.values import ProfileKeys, normalize_phone

LIMIT_NAME = "lookupMisses"
PATTERN_BYTES = 8  # 64 bits: enough to group by, nothing to read back
_MISSES: sa.Table = LookupMiss.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MissCap:
    limit: int
    window: timedelta
    pattern_flag: int

    @classmethod
    def of(cls, settings: Settings) -> MissCap:
        return cls(
            limit=settings.lookup_miss_limit,
            window=timedelta(seconds=settings.lookup_miss_window_seconds),
            pattern_flag=settings.lookup_pattern_flag,
        )


@dataclass(frozen=True, slots=True)
class LookupKey:
    """What the audit log may say about a lookup's key: its kind and, for a phone, the keyed
    fingerprint of its masked form (first three and last four digits). Never the key."""

    kind: str
    pattern: str | None = None

    @classmethod
    def of(
        cls,
        keyring: Keyring,
        keys: ProfileKeys,
    ) -> LookupKey:
        if keys.phone is not None:
            return cls("phone", pattern_of(keyring, keys.phone))
        if keys.union_id is not None:
            return cls("unionId")
        if keys.open_id is not None:
            return cls("openId")
        return cls("id" if keys.public_id else "none")

    def detail(self) -> dict[str, str]:
        return {"key": self.kind, **({"pattern": self.pattern} if self.pattern else {})}


class LookupAttempt(NamedTuple):
    """One lookup as the miss cap weighs it: who, with what kind of key, why, and when."""

    actor: str
    key: LookupKey
    purpose: str | None
    now: datetime


def pattern_of(keyring: Keyring, phone: str) -> str:
    """HMAC of a phone's masked form under the keyring's index key (its own kind): misses that
    share the visible digits share a fingerprint, which neither the digits nor the number can
    be read back from without the key."""
    masked = mask_phone(normalize_phone(phone))
    return keyring.blind_index("phone-pattern", masked)[:PATTERN_BYTES].hex()


async def _newest_in_window(
    session: AsyncSession, *, cap: MissCap, actor: str, now: datetime
) -> list[datetime]:
    rows = await session.scalars(
        sa.select(col(LookupMiss.occurred_at))
        .where(col(LookupMiss.actor_subject) == actor)
        .where(col(LookupMiss.occurred_at) > now - cap.window)
        .order_by(col(LookupMiss.occurred_at).desc())
        .limit(cap.limit)
    )
    return list(rows.all())


async def refuse_if_capped(
    *,
    session: AsyncSession,
    cap: MissCap,
    attempt: LookupAttempt,
) -> None:
    """Throttled (and a `lookup.throttled` record) when the attempt's actor has `cap.limit`
    misses in the window; it may retry when the oldest of them ages out."""
    actor, key, purpose, now = attempt
    newest = await _newest_in_window(session, cap=cap, actor=actor, now=now)
    if len(newest) < cap.limit:
        return
    retry_after = max(1.0, (newest[-1] + cap.window - now).total_seconds())
    record(
        session,
        action="lookup.throttled",
        outcome="refused",
        purpose=purpose,
        detail={
            "limit": LIMIT_NAME,
            "misses": len(newest),
            "windowSeconds": int(cap.window.total_seconds()),
            "retryAfterSeconds": int(retry_after),
            **key.detail(),
        },
    )
    raise Throttled(
        f"{cap.limit} lookups in the last {cap.window.total_seconds():g} s found nobody;"
        " further lookups are refused until the oldest of them is older than that",
        limit=LIMIT_NAME,
        retry_after=retry_after,
    )


async def count_miss(
    *,
    session: AsyncSession,
    cap: MissCap,
    attempt: LookupAttempt,
) -> int:
    """Count one miss of the attempt's actor: the actor's misses in the window, this one included.

    The actor's lock is held until commit, so concurrent misses on any worker queue and none
    slips past the cap (it is checked again under the lock: Throttled). Crossing the cap, or
    `cap.pattern_flag` misses sharing a phone pattern, writes `lookup.enumeration_suspected`.
    """
    actor, key, purpose, now = attempt
    await lock_names(session, [("lookup-misses", actor)])
    await refuse_if_capped(session=session, cap=cap, attempt=attempt)
    in_window = col(LookupMiss.occurred_at) > now - cap.window
    mine = col(LookupMiss.actor_subject) == actor
    await session.execute(sa.delete(_MISSES).where(mine, ~in_window))
    await session.execute(
        sa.insert(_MISSES).values(
            actor_subject=actor, occurred_at=now, key_kind=key.kind, pattern=key.pattern
        )
    )
    counts = sa.select(
        sa.func.count(),
        sa.func.count().filter(col(LookupMiss.pattern) == key.pattern),
    ).where(mine, in_window)
    misses, same_pattern = (await session.execute(counts)).one()
    reasons = [
        reason
        for reason, crossed in (
            ("misses", misses == cap.limit),
            ("pattern", key.pattern is not None and same_pattern == cap.pattern_flag),
        )
        if crossed
    ]
    if reasons:
        record(
            session,
            action="lookup.enumeration_suspected",
            outcome="flagged",
            purpose=purpose,
            detail={
                "reasons": reasons,
                "misses": misses,
                "samePattern": same_pattern if key.pattern else 0,
                "windowSeconds": int(cap.window.total_seconds()),
                **key.detail(),
            },
        )
    return int(misses)
