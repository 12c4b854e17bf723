"""The outbox's worker: claims due messages, sends them through their kind's handler, and
records each answer. Any number run at once (in `cdp serve` and as `cdp worker`).

Claiming: PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers take
disjoint batches without waiting; SQLite's writers are serialised (BEGIN IMMEDIATE), and a
claim moves rows out of PENDING in its one write transaction, so no two claims share a row.
A claimed row is SENDING with a lease and an attempt number; the answer is recorded only
while the row is still SENDING under that attempt (a fencing token).

Never twice: a worker killed between sending and recording leaves a row SENDING past its
lease. WeChat offers no way to ask whether a subscribe message or an SMS went, so such a
row becomes UNCERTAIN (never resent; the operator sees it). A kind whose channel drops a
second copy (a template message's client_msg_id within ten minutes, a webhook's delivery id)
says so in `resend_safe`, and goes back to PENDING instead. A timeout is uncertain the same
way; "system busy", a refused connection and rate limits are retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.db import Database, utcnow
from cdp.outbox.models import ERROR_MAX, OUTBOX, OutboxMessage, OutboxState
from cdp.outbox.outcomes import (
    Deferred,
    Failed,
    Handler,
    Outcome,
    Refused,
    Retry,
    Sent,
    Uncertain,
)

log = logging.getLogger("cdp.outbox")


@dataclass(frozen=True, slots=True)
class Pace:
    """How a worker drains: rows per claim, sends at once, the lease, tries and backoff."""

    batch: int = 50
    concurrency: int = 10
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 1.0


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        pace: Pace,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.handlers, self.pace, self.clock = database, handlers, pace, clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Drain until cancelled: at once while there is work, then every poll."""
        while True:
            try:
                done = await self.run_once()
            except Exception:  # a database outage: log, wait, go on
                log.exception("outbox round failed")
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.pace.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """One claim and its sends; how many messages were claimed."""
        claimed = await self.claim()
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.pace.concurrency)

        async def one(message: OutboxMessage) -> None:
            async with gate:
                await self.deliver(message)

        await asyncio.gather(*(one(message) for message in claimed))
        return len(claimed)

    async def claim(self) -> list[OutboxMessage]:
        """Recover expired leases, then take up to a batch of due PENDING rows."""
        now = self.clock()
        async with self.database.transaction() as session:
            await self._recover(session, now)
            due = (
                sa.select(OUTBOX.c.id)
                .where(OUTBOX.c.state == OutboxState.PENDING.value, OUTBOX.c.due_at <= now)
                .where(OUTBOX.c.kind.in_(list(self.handlers)))
                .order_by(OUTBOX.c.due_at, OUTBOX.c.id)
                .limit(self.pace.batch)
            )
            if self.database.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            lease = now + timedelta(seconds=self.pace.lease_seconds)
            await session.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids))
                .values(
                    state=OutboxState.SENDING.value,
                    attempts=OUTBOX.c.attempts + 1,
                    claimed_at=now,
                    lease_until=lease,
                )
            )
            rows = await session.scalars(
                sa.select(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .order_by(col(OutboxMessage.id))
                .execution_options(populate_existing=True)
            )
            return list(rows)

    async def _recover(self, session: AsyncSession, now: datetime) -> None:
        stale = sa.select(OutboxMessage).where(
            col(OutboxMessage.state) == OutboxState.SENDING,
            col(OutboxMessage.lease_until) < now,
        )
        if self.database.dialect == "postgresql":
            stale = stale.with_for_update(skip_locked=True)
        for message in (await session.scalars(stale.limit(self.pace.batch))).all():
            handler = self.handlers.get(message.kind)
            if handler is not None and handler.resend_safe(message, now):
                message.state, message.due_at = OutboxState.PENDING, now
                message.last_error = "the worker stopped mid-send; sent again (deduplicated)"
            else:
                message.state, message.finished_at = OutboxState.UNCERTAIN, now
                message.last_error = "the worker stopped mid-send; not sent again"
                if handler is not None:
                    await handler.settle(session, message, Uncertain(message.last_error))
            log.warning(
                "outbox lease expired",
                extra={"outbox_id": message.id, "kind": message.kind, "state": message.state},
            )
        await session.flush()

    async def deliver(self, message: OutboxMessage) -> Outcome:
        handler = self.handlers[message.kind]
        try:
            outcome = await handler.send(message)
        except Exception as exc:  # a handler's bug must not stop the worker
            log.exception("outbox handler failed", extra={"outbox_id": message.id})
            outcome = Retry(f"unexpected {type(exc).__name__}")
        await self.record(message, outcome)
        return outcome

    async def record(self, message: OutboxMessage, outcome: Outcome) -> bool:
        """Record `outcome` for the attempt `message` was claimed for; False when the lease
        was lost meanwhile (another worker recovered the row: its state stands)."""
        now = self.clock()
        values = self._values(message, outcome, now)
        handler = self.handlers[message.kind]
        async with self.database.transaction() as session:
            result = await session.execute(
                sa.update(OUTBOX)
                .where(
                    OUTBOX.c.id == message.id,
                    OUTBOX.c.state == OutboxState.SENDING.value,
                    OUTBOX.c.attempts == message.attempts,
                )
                .values(**values, lease_until=None)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                log.warning("outbox lease lost", extra={"outbox_id": message.id})
                return False
            final = values["state"] != OutboxState.PENDING.value
            if final:
                await handler.settle(session, message, outcome)
        return True

    def _values(self, message: OutboxMessage, outcome: Outcome, now: datetime) -> dict[str, object]:
        done = {"finished_at": now}
        match outcome:
            case Sent(result):
                return {
                    "state": OutboxState.SENT.value,
                    "result": result,
                    "last_error": None,
                    **done,
                }
            case Refused(reason, error):
                return {
                    "state": OutboxState.REFUSED.value,
                    "reason": reason[:32],
                    "last_error": _clip(error),
                    **done,
                }
            case Failed(error):
                return {"state": OutboxState.DEAD.value, "last_error": _clip(error), **done}
            case Uncertain(error):
                return {"state": OutboxState.UNCERTAIN.value, "last_error": _clip(error), **done}
            case Deferred(until):
                # Not a try: the attempt number goes back to what it was.
                return {
                    "state": OutboxState.PENDING.value,
                    "due_at": until,
                    "attempts": message.attempts - 1,
                }
            case Retry(error, after):
                if message.attempts >= self.pace.max_attempts:
                    return {"state": OutboxState.DEAD.value, "last_error": _clip(error), **done}
                wait = self.backoff(message.attempts)
                if after is not None:
                    wait = max(wait, after)
                return {
                    "state": OutboxState.PENDING.value,
                    "last_error": _clip(error),
                    "due_at": now + timedelta(seconds=wait),
                }
        raise AssertionError(outcome)

    def backoff(self, attempts: int) -> float:
        """Seconds before try `attempts + 1`: doubling from the base, capped, with up to a
        fifth of jitter so that a burst of failures does not come back as one burst."""
        base = self.pace.backoff_seconds * 2.0 ** max(attempts - 1, 0)
        wait = min(base, self.pace.backoff_max_seconds)
        return wait * (1 + random.random() / 5)


def _clip(error: str | None) -> str | None:
    return None if error is None else error[:ERROR_MAX]
