"""Running the cancellations whose cooling-off has ended: `cdp erasure run-due`, and the
privacy worker of `cdp serve` (retention runs in `cdp worker`: cdp.retention.worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cdp.audit.trail import AuditTrail
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.erasure.execution import ErasureIncomplete, execute_erasure
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.outages import outage_of
from cdp.privacy.cancellation import start_due
from cdp.unit_of_work import audited_transaction, operator_trail

log = logging.getLogger(__name__)
WORKER_SUBJECT = "cdp-privacy"


@dataclass
class DueRun:
    """What one pass did: requests completed, and those left to converge on a later pass."""

    completed: list[str] = field(default_factory=list)
    unfinished: int = 0


async def run_due_cancellations(
    database: Database,
    keyring: KeyringSource,
    keystore: KeyStore,
    *,
    now: datetime | None = None,
    on_done: Callable[[], None] | None = None,
) -> DueRun:
    """Start every cancellation due at `now` (default: now) and execute every running one."""

    def trail() -> AuditTrail:
        return operator_trail(keyring.keyring, WORKER_SUBJECT)

    async with audited_transaction(database, trail()) as session:
        ids = await start_due(session=session, now=now or utcnow())
    done = DueRun()
    for request_id in ids:
        try:
            request = await execute_erasure(
                database, keyring, keystore=keystore, request_id=request_id, trail=trail
            )
            done.completed.append(request.public_id)
        except ErasureIncomplete:
            done.unfinished += 1  # rerun converges; the request stays EXECUTING
        if on_done is not None:
            on_done()
    return done


class PrivacyWorker:
    """`cdp serve`'s background task: due cancellations every poll."""

    def __init__(
        self, settings: Settings, database: Database, keyring: KeyringSource, keystore: KeyStore
    ) -> None:
        self.settings, self.database = settings, database
        self.keyring, self.keystore = keyring, keystore

    async def step(self) -> None:
        await run_due_cancellations(self.database, self.keyring, self.keystore)

    async def run(self) -> None:
        poll = self.settings.privacy_worker_poll_seconds
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next round retries; the server keeps serving
                if outage_of(exc) is None:
                    log.exception("privacy worker: a round failed")
            await asyncio.sleep(poll)
