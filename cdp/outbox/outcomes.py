"""What a channel's handler answers for one message, and the handler interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.outbox.models import OutboxMessage


@dataclass(frozen=True, slots=True)
class Sent:
    result: dict[str, Any] = field(default_factory=dict)  # e.g. WeChat's msgid


@dataclass(frozen=True, slots=True)
class Retry:
    """A failure worth another try: after the backoff, or after `after` seconds at least."""

    error: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Not to be sent, for `reason` (the decision's, or the channel's answer)."""

    reason: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure another try would not mend (dead-lettered at once)."""

    error: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    """The message may have gone (a timeout on a channel that cannot tell a second send from
    the first): recorded as UNCERTAIN, never sent again."""

    error: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not now (quiet hours): due again at `until`, the try not counted."""

    until: datetime


Outcome = Sent | Retry | Refused | Failed | Uncertain | Deferred


class Handler(Protocol):
    """Sends one kind of message. `send` runs outside any transaction; `settle` runs in the
    transaction that records the outcome (give back a spent acceptance, drop a contact)."""

    def resend_safe(self, message: OutboxMessage, now: datetime) -> bool:
        """May a message whose worker stopped mid-send be sent again (the channel drops a
        second copy, as WeChat does a template message's client_msg_id for ten minutes)?"""
        ...

    async def send(self, message: OutboxMessage) -> Outcome: ...

    async def settle(
        self, session: AsyncSession, message: OutboxMessage, outcome: Outcome
    ) -> None: ...
