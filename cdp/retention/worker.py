"""Retention in `cdp worker`: every ROUND_SECONDS each worker asks for the day's run
(`cdp.retention.leader`); the one that claims it runs every policy, renewing its claim after
every batch, and records the run as finished (or failed: the next round tries again)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.outages import outage_of
from cdp.retention.leader import beat, claim, finish, holder_name
from cdp.retention.run import Outcome, run_retention

log = logging.getLogger(__name__)
ROUND_SECONDS = 300.0


class RetentionWorker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: KeyringSource,
        keystore: KeyStore,
        *,
        holder: str | None = None,
    ) -> None:
        self.settings, self.database = settings, database
        self.keyring, self.keystore = keyring, keystore
        self.holder = holder or holder_name()

    async def round(self) -> list[Outcome] | None:
        """The run, if it is due and this worker claimed it; None otherwise."""
        hours = self.settings.retention_interval_hours
        if hours <= 0:
            return None
        run_id = await claim(self.database, holder=self.holder, interval=timedelta(hours=hours))
        if run_id is None:
            return None
        try:
            outcomes = await run_retention(
                self.database,
                self.keyring,
                self.settings,
                keystore=self.keystore,
                dry_run=False,
                heartbeat=lambda: beat(self.database, run_id),
            )
        except BaseException:
            await asyncio.shield(finish(self.database, run_id, failed=True))
            raise
        await finish(self.database, run_id, failed=False)
        return outcomes

    async def run(self) -> None:
        """Until cancelled: a round every ROUND_SECONDS (the first at once)."""
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage, or worse: logged, tried at the next round
                if outage_of(exc) is None:
                    log.exception("retention: a run failed")
            await asyncio.sleep(ROUND_SECONDS)
