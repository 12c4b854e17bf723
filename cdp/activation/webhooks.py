"""Webhooks to the brand's systems: queueing an event's deliveries (one per endpoint that
takes it, in the caller's transaction) and the outbox handler that posts them, signed.

A delivery is `POST url` with the JSON body `{"id", "event", "occurredAt", "data"}` and the
headers `X-CDP-Event`, `X-CDP-Delivery` (the id: the same on every retry, so the receiver
drops a copy), `X-CDP-Timestamp` (Unix seconds) and `X-CDP-Signature: v1=<hex>`, the
HMAC-SHA256 under the endpoint's secret of `<timestamp>.<body>`. A 2xx is delivered; 408,
409, 429 and 5xx, timeouts and refused connections are retried with backoff; another 4xx is
dead at once. A delivery about a person erased since it was queued carries only the erasure's
tombstone id (cdp/erasure/purge.py rewrites it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation_config import WebhookEvent
from cdp.config import Settings
from cdp.db import utcnow
from cdp.outbox.models import OutboxMessage
from cdp.outbox.outcomes import Failed, Outcome, Retry, Sent
from cdp.outbox.queue import Outgoing, enqueue
from cdp.suppression.models import ErasureStatus

log = logging.getLogger("cdp.webhooks")
RETRIED_STATUSES = frozenset({408, 409, 425, 429})
ERASED = (ErasureStatus.EXECUTING.value, ErasureStatus.COMPLETED.value)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-CDP-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


async def emit(
    *,
    session: AsyncSession,
    settings: Settings,
    event: WebhookEvent,
    key: str,
    data: dict[str, Any],
    subject: int | None = None,
    now: datetime | None = None,
) -> int:
    """Queue `event` for every endpoint that takes it; `key` names the cause (the same cause
    twice is one delivery), `subject` the person's surrogate id when it is about one (never
    sent: an erasure rewrites their deliveries to the tombstone). How many were queued."""
    now = now or utcnow()
    messages = [
        Outgoing(
            kind="webhook",
            key=f"webhook:{name}:{event.value}:{key}",
            payload={
                "webhook": name,
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cdp:{name}:{event.value}:{key}")),
                "event": event.value,
                "occurredAt": now.isoformat(),
                "data": data,
            },
            profile_id=subject,
            topic=event.value,
            due_at=now,
        )
        for name, hook in sorted(settings.webhooks.items())
        if event in hook.events
    ]
    return len(await enqueue(session=session, messages=messages, now=now)) if messages else 0


class WebhookHandler:
    def __init__(
        self,
        settings: Settings,
        database: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings, self.database = settings, database
        self._http = httpx.AsyncClient(timeout=10.0, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    def resend_safe(self, message: OutboxMessage, now: datetime) -> bool:
        return True  # the receiver drops a second copy by X-CDP-Delivery

    async def send(self, message: OutboxMessage) -> Outcome:
        payload = dict(message.payload)
        hook = self.settings.webhooks.get(str(payload.get("webhook")))
        if hook is None:
            return Failed(f"no webhook {payload.get('webhook')!r} in CDP_WEBHOOKS")
        payload.pop("webhook", None)
        payload.pop("subject", None)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-cdp-event": str(payload["event"]),
            "x-cdp-delivery": str(payload["id"]),
            "x-cdp-timestamp": str(timestamp),
            "x-cdp-signature": signature(hook.secret.get_secret_value(), timestamp, body),
        }
        try:
            response = await self._http.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Retry(f"webhook unreachable: {type(exc).__name__}")
        log.info(
            "webhook delivered",
            extra={
                "outbox_id": message.id,
                "event": payload["event"],
                "status": response.status_code,
            },
        )
        if response.is_success:
            return Sent({"status": response.status_code})
        if response.status_code >= 500 or response.status_code in RETRIED_STATUSES:
            return Retry(f"webhook answered {response.status_code}")
        return Failed(f"webhook answered {response.status_code}")

    async def settle(self, session: AsyncSession, message: OutboxMessage, outcome: Outcome) -> None:
        return None
