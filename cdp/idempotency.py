"""Writes that may arrive twice: the row an earlier request with the same key wrote, checked
to ask for the same thing, and the replay audited.

Every ingest path that takes an idempotency key (coupons, points, contacts) finds the earlier
row with `earlier_write`; those keyed by something else (an order's channel and external id,
a profile's tag) check it themselves and audit with `record_replay`. The caller holds the
key's lock, so no concurrent request with the same key can slip between the look and the
write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit import trail as audit
from cdp.errors import conflict

T = TypeVar("T")
REPLAYED = "replayed"


def record_replay(
    session: AsyncSession, *, action: str, profile_id: int | None, detail: dict[str, Any]
) -> None:
    """Audit a write that changed nothing because it had been made before."""
    audit.record(session, action=action, profile_id=profile_id, outcome=REPLAYED, detail=detail)


async def earlier_write(
    session: AsyncSession,
    statement: sa.Select[T],
    params: Mapping[str, Any],
    *,
    same: Callable[[T], bool],
    what: str,
    action: str,
    profile_id: int,
    detail: Callable[[T], dict[str, Any]],
) -> T | None:
    """The row `statement` finds for an idempotency key, its replay audited as `action`;
    None when there is none. CONFLICT when the earlier request asked for something else
    (`same` is False): "idempotencyKey was already used for `what`"."""
    row = await session.scalar(statement, params)
    if row is None:
        return None
    if not same(row):
        raise conflict(f"idempotencyKey was already used for {what}")
    record_replay(session, action=action, profile_id=profile_id, detail=detail(row))
    return row
