"""The outbox handler of domain events (cdp/outbox/events.py): each event becomes the
brand's webhook deliveries and the messages its triggers name, in one transaction, with
keys derived from the event's (so an event handled twice queues nothing twice).

An order's status fires order.paid, .shipped or .completed; with `days`, the message is
decided and queued that many days later (after-sales care), by an event due then. A tier
change fires tier.changed; entering an audience fires audience.entered for that audience.
Template variables come from the event: the order's number, total and status, the tier, the
audience's name; never a personal value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.activation.messages import Recipient, queue_messages
from cdp.activation.webhooks import emit
from cdp.activation_config import Trigger, TriggerOn, WebhookEvent
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.outbox import events
from cdp.outbox.models import OutboxMessage
from cdp.outbox.outcomes import Failed, Outcome, Sent

log = logging.getLogger("cdp.activation")
LATER = "trigger.later"  # a trigger's message, due `days` after its event
_STATUS_TRIGGERS = {
    "PAID": TriggerOn.ORDER_PAID,
    "SHIPPED": TriggerOn.ORDER_SHIPPED,
    "COMPLETED": TriggerOn.ORDER_COMPLETED,
}
_WEBHOOK_EVENTS = {event.value: event for event in WebhookEvent}


def fired(event: str, data: dict[str, Any]) -> tuple[TriggerOn | None, dict[str, str]]:
    """The trigger an event fires, and the template variables it gives."""
    if event == events.ORDER_STATUS_CHANGED:
        total = data.get("totalFen")
        variables = {
            "order_no": str(data.get("orderNo", "")),
            "status": str(data.get("status", "")),
            "amount_yuan": f"{int(total) / 100:.2f}" if isinstance(total, int) else "",
        }
        return _STATUS_TRIGGERS.get(str(data.get("status"))), variables
    if event == events.TIER_CHANGED:
        return TriggerOn.TIER_CHANGED, {"tier": str(data.get("tier", ""))}
    if event == events.AUDIENCE_ENTERED:
        return TriggerOn.AUDIENCE_ENTERED, {"audience": str(data.get("audience", ""))}
    return None, {}


class EventHandler:
    def __init__(
        self, settings: Settings, database: Database, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings, self.database, self.clock = settings, database, clock

    def resend_safe(self, message: OutboxMessage, now: datetime) -> bool:
        return True  # everything it queues is keyed by the event's key

    async def send(self, message: OutboxMessage) -> Outcome:
        now = self.clock()
        event = str(message.payload.get("event", ""))
        data = dict(message.payload.get("data") or {})
        try:
            async with self.database.transaction() as session:
                if event == LATER:
                    await self._later(session, message, data, now)
                else:
                    await self._fan_out(session, message, event, data, now)
        except CdpError as exc:  # a template the settings lost, a variable missing
            return Failed(exc.message)
        return Sent({})

    async def _fan_out(
        self,
        session: AsyncSession,
        message: OutboxMessage,
        event: str,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        key = message.idempotency_key
        webhook = _WEBHOOK_EVENTS.get(event)
        if webhook is not None:
            await emit(
                session=session,
                settings=self.settings,
                event=webhook,
                key=key,
                data=data,
                subject=message.profile_id,
                now=now,
            )
        on, variables = fired(event, data)
        if on is None or message.profile_id is None:
            return
        variables["date"] = now.date().isoformat()
        for trigger in self.settings.activation_triggers:
            if trigger.on is not on or not _audience_matches(trigger, data):
                continue
            if trigger.days and on in _STATUS_TRIGGERS.values():
                await events.note(
                    session,
                    event=LATER,
                    key=f"{key}:{trigger.template}:{trigger.days}",
                    data={"template": trigger.template, "variables": variables, "cause": key},
                    subject=message.profile_id,
                    due_at=now + timedelta(days=trigger.days),
                )
                continue
            await queue_messages(
                session=session,
                settings=self.settings,
                name=trigger.template,
                recipients=[Recipient(message.profile_id, f"{key}:{trigger.template}", variables)],
                now=now,
            )

    async def _later(
        self, session: AsyncSession, message: OutboxMessage, data: dict[str, Any], now: datetime
    ) -> None:
        if message.profile_id is None:
            return  # erased meanwhile
        name = str(data.get("template", ""))
        variables = {str(k): str(v) for k, v in dict(data.get("variables") or {}).items()}
        await queue_messages(
            session=session,
            settings=self.settings,
            name=name,
            recipients=[
                Recipient(message.profile_id, f"{message.idempotency_key}:{name}", variables)
            ],
            now=now,
        )

    async def settle(self, session: AsyncSession, message: OutboxMessage, outcome: Outcome) -> None:
        return None


def _audience_matches(trigger: Trigger, data: dict[str, Any]) -> bool:
    return trigger.audience is None or trigger.audience == data.get("audience")
