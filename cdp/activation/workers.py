"""The outbox worker as `cdp serve` and `cdp worker` run it: a handler per kind (the three
message channels and webhooks), with their clients, and the pace from the settings."""

from __future__ import annotations

from cdp.activation.sending import MessageHandler
from cdp.activation.webhooks import WebhookHandler
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outbox.outcomes import Handler
from cdp.outbox.worker import OutboxWorker, Pace
from cdp.sms.provider import TencentSmsProvider
from cdp.wechat.app_tokens import AppTokens
from cdp.wechat.client import WechatClient


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
        self.worker = OutboxWorker(database, handlers, pace_of(settings))

    async def aclose(self) -> None:
        await self.wechat.aclose()
        await self.webhooks.aclose()
        if self.sms is not None:
            await self.sms.aclose()
