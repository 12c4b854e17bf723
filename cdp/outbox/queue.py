"""Putting messages in the outbox, in the caller's transaction (keyword-only, never
committing): a message exists if and only if what caused it committed. The idempotency key
is unique, so the same cause queued twice (a retried request, a trigger run again) is one
message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.db import insert_ignoring_duplicates, utcnow
from cdp.outbox.models import KEY_MAX, OUTBOX, OutboxState


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to queue: its handler's `kind`, its idempotency `key`, what the handler needs
    (`payload`, never a personal value), and whom it is for (a refusal is queued REFUSED,
    with its `reason`, so that every refusal is on record)."""

    kind: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    profile_id: int | None = None
    purpose: str | None = None
    channel: str | None = None
    topic: str | None = None
    campaign_id: int | None = None
    due_at: datetime | None = None
    refused: str | None = None

    def row(self, now: datetime) -> dict[str, Any]:
        state = OutboxState.PENDING if self.refused is None else OutboxState.REFUSED
        return {
            "kind": self.kind,
            "idempotency_key": self.key[:KEY_MAX],
            "payload": self.payload,
            "profile_id": self.profile_id,
            "purpose": self.purpose,
            "channel": self.channel,
            "topic": self.topic,
            "campaign_id": self.campaign_id,
            "state": state.value,
            "reason": self.refused,
            "attempts": 0,
            "due_at": self.due_at or now,
            "created_at": now,
            "finished_at": None if self.refused is None else now,
        }


async def enqueue(
    *, session: AsyncSession, messages: Sequence[Outgoing], now: datetime | None = None
) -> set[str]:
    """Queue `messages` (those whose key is already queued are left as they are); the keys
    queued now."""
    now = now or utcnow()
    rows = [message.row(now) for message in messages]
    inserted = await insert_ignoring_duplicates(session, OUTBOX, rows, key="idempotency_key")
    return {str(key) for key in inserted}
