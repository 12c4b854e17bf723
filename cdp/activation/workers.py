"""The outbox worker as `cdp serve` and `cdp worker` run it: a handler per kind (the three
message channels, domain events and webhooks) with their clients, the pace from the
settings, and the rounds that turn audience changes, expiries and due campaigns into work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from cdp.activation.campaigns import advance, due_campaigns
from cdp.activation.relays import prune_outbox, relay_audience_changes, sweep_expiring
from cdp.activation.sending import MessageHandler
from cdp.activation.triggers import EventHandler
from cdp.activation.webhooks import WebhookHandler
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outbox.outcomes import Handler
from cdp.outbox.worker import OutboxWorker, Pace
from cdp.sms.provider import TencentSmsProvider
from cdp.wechat.app_tokens import AppTokens
from cdp.wechat.client import WechatClient

log = logging.getLogger("cdp.activation")
HOURLY = timedelta(hours=1)


def pace_of(settings: Settings) -> Pace:
    return Pace(
        batch=settings.outbox_batch_size,
        concurrency=settings.outbox_concurrency,
        lease_seconds=settings.outbox_lease_seconds,
        max_attempts=settings.outbox_max_attempts,
        backoff_seconds=settings.outbox_backoff_seconds,
        backoff_max_seconds=settings.outbox_backoff_max_seconds,
        poll_seconds=settings.outbox_poll_seconds or 1.0,
    )


class ActivationWorker:
    """The worker and the clients it owns (`aclose` closes them)."""

    def __init__(
        self, settings: Settings, database: Database, keyring: KeyringSource, keys: KeyStore
    ) -> None:
        self.wechat = WechatClient(settings)
        tokens = AppTokens(database, keyring, self.wechat)
        self.sms = (
            None
            if settings.sms_tencent is None
            else TencentSmsProvider(settings.sms_tencent, timeout=settings.sms_timeout_seconds)
        )
        self.webhooks = WebhookHandler(settings, database)
        handlers: dict[str, Handler] = {
            kind: MessageHandler(
                kind,
                settings,
                database,
                lambda: Vault(keyring, keys),
                wechat=self.wechat,
                tokens=tokens,
                sms=self.sms,
            )
            for kind in ("wechat.subscribe", "wechat.template", "sms")
        }
        handlers["webhook"] = self.webhooks
        handlers["event"] = EventHandler(settings, database)
        self.settings, self.database = settings, database
        self.worker = OutboxWorker(database, handlers, pace_of(settings))

    async def run(self) -> None:
        """The outbox drained, and the rounds every poll (expiries hourly), until cancelled."""
        drain = asyncio.create_task(self.worker.run())
        swept: datetime | None = None
        try:
            while True:
                now = utcnow()
                try:
                    if await self.round(now, sweep=swept is None or now - swept >= HOURLY):
                        self.worker.wake()
                    if swept is None or now - swept >= HOURLY:
                        swept = now
                except Exception:  # a database outage: the next round tries again
                    log.exception("activation round failed")
                await asyncio.sleep(self.worker.pace.poll_seconds)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def round(self, now: datetime, *, sweep: bool = True) -> int:
        """Audience changes and (with `sweep`) expiries and due campaigns turned into
        outbox rows; how many."""
        made = await relay_audience_changes(self.database, self.settings, now)
        if sweep:
            made += await sweep_expiring(self.database, self.settings, now)
            await prune_outbox(self.database, self.settings, now)
        async with self.database.transaction() as session:
            for campaign in await due_campaigns(session=session, now=now):
                made += await advance(
                    session=session, settings=self.settings, campaign=campaign, now=now
                )
        return made

    async def aclose(self) -> None:
        await self.wechat.aclose()
        await self.webhooks.aclose()
        if self.sms is not None:
            await self.sms.aclose()
