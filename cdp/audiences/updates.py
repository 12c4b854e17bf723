"""The updater: `cdp serve`'s background task that re-evaluates the people queued by writes
(cdp.reevaluation) against every audience, a batch per transaction, shortly after each
commit (a commit in this process wakes it; the poll interval catches other processes').

A batch is claimed by deleting its queue rows (PostgreSQL skips rows another updater holds)
in the transaction that applies the result: a crash leaves them queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audiences.membership import Applied, update
from cdp.audiences.models import Audience
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.outages import outage_of
from cdp.reevaluation import QUEUE, on_queued
from cdp.unit_of_work import audited_transaction, operator_trail

log = logging.getLogger(__name__)
BATCH = 100  # people per transaction (each is a bound value in every subquery)
UPDATER_SUBJECT = "cdp-audiences"


async def claim(session: AsyncSession, limit: int = BATCH) -> list[int]:
    """The profile ids of up to `limit` queue rows, taken off the queue (until rollback)."""
    oldest = (
        sa.select(QUEUE.c.id).order_by(QUEUE.c.id).limit(limit).with_for_update(skip_locked=True)
    )
    taken = await session.execute(
        sa.delete(QUEUE).where(QUEUE.c.id.in_(oldest)).returning(QUEUE.c.profile_id)
    )
    return sorted({int(pid) for pid in taken.scalars()})


class AudienceUpdater:
    """Drains the queue; `run()` as the app's background task, `drain()` to do it now."""

    def __init__(self, settings: Settings, database: Database, keyring: KeyringSource) -> None:
        self.settings, self.database, self.keyring = settings, database, keyring
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def step(self) -> tuple[int, Applied]:
        """One batch: (people re-evaluated, what changed)."""
        trail = operator_trail(self.keyring.keyring, UPDATER_SUBJECT)
        async with audited_transaction(self.database, trail) as session:
            ids = await claim(session)
            if not ids:
                return 0, Applied()
            audiences = (
                await session.scalars(sa.select(Audience).order_by(col(Audience.id)))
            ).all()
            applied = await update(
                session=session, audiences=audiences, profile_ids=ids, settings=self.settings
            )
        return len(ids), applied

    async def drain(self) -> Applied:
        """Every batch queued until the queue is empty; what changed in all."""
        total = Applied()
        while True:
            done, applied = await self.step()
            if not done:
                return total
            total += applied

    async def run(self) -> None:
        """Until cancelled: drain, then wait for a commit that queued someone, or the poll."""
        loop = asyncio.get_running_loop()

        def queued() -> None:  # called after a commit, from inside SQLAlchemy's sync code
            loop.call_soon(self._wake.set)

        stop = on_queued(queued)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.drain()
                except Exception as exc:  # an outage, or worse: logged, retried at the next poll
                    log.warning(
                        "audience updates paused",
                        extra={
                            "error_type": type(exc).__qualname__,
                            "outage": bool(outage_of(exc)),
                        },
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self.settings.audience_update_poll_seconds
                    )
        finally:
            stop()
