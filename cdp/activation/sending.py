"""The outbox's handlers for messages: a mini-program subscribe message, an official
account's template message and an SMS, each read from its template and sent to the person
the row names, whose OpenID or phone is read (and decrypted) only now, never stored in the
outbox.

WeChat's answers: 43101 (no acceptance left) and 43004 (not following) refuse the message;
45009 (the daily limit) waits `activation_limit_backoff_seconds`; 40001 (the token) takes a
fresh token and tries once more; busy and unreachable are retried with the outbox's
backoff. A timeout may have sent: a template message is retried (its client_msg_id makes
WeChat drop a second copy), a subscribe message or an SMS is UNCERTAIN, never resent (SMS:
any failure of the provider's "busy" kind, which covers timeouts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.activation.decision import C, G, Refusal, quiet_until, recheck
from cdp.activation.messages import spend_acceptances, template_named
from cdp.activation_config import MessageTemplate
from cdp.config import Settings
from cdp.db import Database, as_utc, utcnow
from cdp.keys.vault import Vault
from cdp.outbox.models import OutboxMessage
from cdp.outbox.outcomes import (
    Deferred,
    Failed,
    Outcome,
    Refused,
    Retry,
    Sent,
    Uncertain,
)
from cdp.profiles.models import Identity, Profile
from cdp.profiles.personal import read_field, read_open_id
from cdp.sms.provider import SmsError, SmsFailure, SmsProvider
from cdp.wechat.app_tokens import AppTokens
from cdp.wechat.client import (
    SUBSCRIBE_SEND,
    TEMPLATE_SEND,
    WechatClient,
    WechatError,
    WechatFailure,
)

DEDUPE_WINDOW = timedelta(minutes=10)  # how long WeChat honours a client_msg_id


class MessageHandler:
    """One of the three message kinds; `settings.activation_templates` says what to send."""

    def __init__(
        self,
        kind: str,
        settings: Settings,
        database: Database,
        vault: Callable[[], Vault],
        *,
        wechat: WechatClient | None = None,
        tokens: AppTokens | None = None,
        sms: SmsProvider | None = None,
        clock: Any = utcnow,
    ) -> None:
        self.kind, self.settings, self.database = kind, settings, database
        self.vault = vault  # one per send: no data key outlives it in memory
        self.wechat, self.tokens, self.sms, self.clock = wechat, tokens, sms, clock

    def resend_safe(self, message: OutboxMessage, now: datetime) -> bool:
        if self.kind != "wechat.template" or message.claimed_at is None:
            return False
        return now - as_utc(message.claimed_at) < DEDUPE_WINDOW

    async def send(self, message: OutboxMessage) -> Outcome:
        now = self.clock()
        name = str(message.payload.get("template", ""))
        template = self.settings.activation_templates.get(name)
        if template is None:
            return Failed(f"no template {name!r} in CDP_ACTIVATION_TEMPLATES")
        if template.quiet_hours:
            until = quiet_until(now, self.settings)
            if until is not None:
                return Deferred(until)
        if message.profile_id is None:
            return Refused(Refusal.SUPPRESSED.value)
        async with self.database.transaction() as session:
            refusal = await recheck(
                session=session,
                profile_id=message.profile_id,
                template=template,
                settings=self.settings,
                now=now,
            )
            if refusal is not None:
                return Refused(refusal)
            to = await self._recipient(session, self.vault(), message.profile_id, template)
        if to is None:
            return Refused(Refusal.NO_RECIPIENT.value)
        data = {k: str(v) for k, v in dict(message.payload.get("data") or {}).items()}
        if self.kind == "sms":
            return await self._sms(to, template, data)
        return await self._wechat(message, to, template, data)

    async def _recipient(
        self, session: AsyncSession, vault: Vault, profile_id: int, template: MessageTemplate
    ) -> str | None:
        if template.channel == "SMS":
            profile = await session.get(Profile, profile_id)
            if profile is None or profile.phone_ct is None:
                return None
            phone = await read_field(session=session, vault=vault, profile=profile, field="phone")
            return None if phone is None else str(phone)
        identity = await session.scalar(
            sa.select(Identity)
            .where(
                col(Identity.profile_id) == profile_id,
                col(Identity.app_id) == template.app_id,
                col(Identity.open_id_ct).is_not(None),
            )
            .order_by(col(Identity.last_seen_at).desc())
            .limit(1)
        )
        if identity is None:
            return None
        return await read_open_id(session=session, vault=vault, identity=identity)

    async def _wechat(
        self,
        message: OutboxMessage,
        open_id: str,
        template: MessageTemplate,
        data: dict[str, str],
    ) -> Outcome:
        assert self.wechat is not None and self.tokens is not None and template.app_id
        app = self.settings.wechat_apps.get(template.app_id)
        if app is None:
            return Failed(f"the app {template.app_id} is not in CDP_WECHAT_APPS")
        body: dict[str, Any] = {
            "touser": open_id,
            "template_id": template.template_id,
            "data": {keyword: {"value": value} for keyword, value in data.items()},
        }
        if self.kind == "wechat.subscribe":
            path = SUBSCRIBE_SEND
            if template.page:
                body["page"] = template.page
        else:
            path = TEMPLATE_SEND
            body["client_msg_id"] = f"cdp{message.id}"  # WeChat's 防重入 id (ten minutes)
            if template.page:
                body["url"] = template.page
        try:
            token = await self.tokens.current(template.app_id, app)
            try:
                msgid = await self.wechat.send_message(path=path, access_token=token, body=body)
            except WechatError as exc:
                if exc.failure is not WechatFailure.TOKEN_INVALID:
                    raise
                token = await self.tokens.replace(template.app_id, app, token)
                msgid = await self.wechat.send_message(path=path, access_token=token, body=body)
        except WechatError as exc:
            return self._outcome(exc)
        return Sent({"msgid": msgid})

    def _outcome(self, exc: WechatError) -> Outcome:
        error = str(exc)
        match exc.failure:
            case WechatFailure.NO_ACCEPTANCE:
                return Refused(Refusal.NO_SUBSCRIPTION.value, error)
            case WechatFailure.NOT_FOLLOWING:
                return Refused(Refusal.NOT_FOLLOWING.value, error)
            case WechatFailure.DAILY_LIMIT | WechatFailure.RATE_LIMITED:
                return Retry(error, after=self.settings.activation_limit_backoff_seconds)
            case WechatFailure.BUSY | WechatFailure.TOKEN_INVALID:
                return Retry(error)
            case WechatFailure.TIMEOUT:
                return Retry(error) if self.kind == "wechat.template" else Uncertain(error)
        return Failed(error)

    async def _sms(self, phone: str, template: MessageTemplate, data: dict[str, str]) -> Outcome:
        if self.sms is None:
            return Failed("no SMS provider (CDP_SMS_TENCENT)")
        # An SMS template's parameters are positional: the fields in their keys' order.
        params = [data[key] for key in sorted(data)]
        try:
            await self.sms.send_template(
                phone=phone, template_id=template.template_id, params=params
            )
        except SmsError as exc:
            if exc.failure is SmsFailure.BAD_PHONE:
                return Refused(Refusal.NO_RECIPIENT.value, str(exc))
            if exc.failure is SmsFailure.RATE_LIMITED:
                return Retry(str(exc), after=self.settings.activation_limit_backoff_seconds)
            if exc.failure is SmsFailure.BUSY:
                # A timeout (or a 5xx) may have sent, and SendSms drops no second copy.
                return Uncertain(str(exc))
            return Failed(str(exc))
        return Sent({})

    async def settle(self, session: AsyncSession, message: OutboxMessage, outcome: Outcome) -> None:
        """A message that did not go gives back what its queueing took: the contact (caps)
        and, unless WeChat said none was left, the acceptance; an uncertain one keeps both."""
        if isinstance(outcome, Sent | Uncertain):
            return
        await session.execute(sa.delete(C).where(C.c.idempotency_key == message.idempotency_key))
        name = str(message.payload.get("template", ""))
        if self.kind != "wechat.subscribe" or message.profile_id is None:
            return
        template = template_named(self.settings, name)
        if isinstance(outcome, Refused) and outcome.reason == Refusal.NO_SUBSCRIPTION.value:
            await session.execute(
                sa.update(G)
                .where(
                    G.c.profile_id == message.profile_id,
                    G.c.app_id == template.app_id,
                    G.c.template_id == template.template_id,
                )
                .values(available=0)
            )
        else:
            await spend_acceptances(session, [message.profile_id], template, +1)
