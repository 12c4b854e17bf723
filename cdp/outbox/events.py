"""Domain events for activation, queued in the transaction of what happened: an order's
status, a tier, a consent choice, a merge, a finished erasure. Each is an outbox row of kind
`event` that activation's handler turns into messages (the triggers) and webhook deliveries,
shortly after and idempotently; so the domains need no settings and never wait for WeChat.

`data` holds ids and states only (the public profile id, an order's number), never a
personal value; `subject` is the person's surrogate id: an erasure purges their events and
leaves the webhook deliveries not yet made carrying the tombstone id alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.outbox.queue import Outgoing, enqueue

ORDER_STATUS_CHANGED = "order.status_changed"
TIER_CHANGED = "tier.changed"
CONSENT_CHANGED = "consent.changed"
PROFILE_MERGED = "profile.merged"
ERASURE_COMPLETED = "erasure.completed"
AUDIENCE_ENTERED = "audience.entered"
AUDIENCE_LEFT = "audience.left"


async def note(
    session: AsyncSession,
    *,
    event: str,
    key: str,
    data: dict[str, Any],
    subject: int | None,
    due_at: datetime | None = None,
) -> None:
    """Queue `event` once per `key` (the same cause noted twice is one event)."""
    await enqueue(
        session=session,
        messages=[
            Outgoing(
                kind="event",
                key=f"event:{event}:{key}",
                payload={"event": event, "data": data},
                profile_id=subject,
                topic=event,
                due_at=due_at,
            )
        ],
    )
