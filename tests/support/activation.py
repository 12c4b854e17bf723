"""Activation's test people and worker: people linked in the fake WeChat's mini-program and
official account, their consents, follows and subscribe acceptances written as the WeChat
push would, the templates of the suite, and a worker on a clock the test moves."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from cdp.activation.messages import Queued, Recipient, queue_messages
from cdp.activation.workers import ActivationWorker
from cdp.channels import Channel
from cdp.config import Settings
from cdp.consent.models import Consent, ConsentPurpose
from cdp.db import Database
from cdp.devwechat.fake import (
    MINI_APP_ID,
    MINI_SECRET,
    OA_APP_ID,
    OA_SECRET,
    FakeWechat,
    WechatUser,
)
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.outbox.models import OutboxMessage
from cdp.outbox.worker import OutboxWorker
from cdp.profiles.models import Profile
from cdp.subscriptions import service as subscriptions
from tests.conftest import TEST_KEYRING, gql

# Midday in Shanghai (04:00 UTC): outside quiet hours.
NOON = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
TEMPLATES: dict[str, Any] = {
    "order_paid": {
        "channel": "MINI_PROGRAM",
        "app_id": MINI_APP_ID,
        "template_id": "TPL-order-paid-0001",
        "purpose": "ACTIVITY_NOTIFICATIONS",
        "fields": {
            "character_string1": "{order_no}",
            "amount2": "{amount_yuan}",
            "thing3": "感谢您的惠顾",
        },
        "page": "pages/order/detail",
        "quiet_hours": False,
    },
    "order_shipped": {
        "channel": "OFFICIAL_ACCOUNT",
        "app_id": OA_APP_ID,
        "template_id": "TPL-order-shipped-01",
        "purpose": "ACTIVITY_NOTIFICATIONS",
        "fields": {"keyword1": "{order_no}", "keyword2": "已发货"},
        "quiet_hours": False,
    },
    "spring_sale": {
        "channel": "MINI_PROGRAM",
        "app_id": MINI_APP_ID,
        "template_id": "TPL-spring-sale-0001",
        "purpose": "MARKETING",
        "fields": {"thing1": "春季新品上市", "date2": "{date}"},
    },
    "follow_prompt": {
        "channel": "OFFICIAL_ACCOUNT",
        "app_id": OA_APP_ID,
        "template_id": "TPL-follow-prompt-01",
        "purpose": "ACTIVITY_NOTIFICATIONS",
        "topic": "follow_prompt",
        "fields": {"keyword1": "关注公众号领取会员权益"},
        "quiet_hours": False,
    },
}
LINK = """
mutation Link($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }
"""


def activation_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings for the fake WeChat at `base_url` with the suite's templates; quick tries."""
    return {
        "wechat_apps": {
            MINI_APP_ID: {"type": "MINI_PROGRAM", "secret": MINI_SECRET},
            OA_APP_ID: {"type": "OFFICIAL_ACCOUNT", "secret": OA_SECRET},
        },
        "wechat_api_base_url": base_url,
        "wechat_timeout_seconds": 1.0,
        "wechat_busy_retries": 1,
        "wechat_backoff_seconds": 0.01,
        "activation_templates": TEMPLATES,
        "outbox_backoff_seconds": 10.0,
        **overrides,
    }


@dataclass
class Member:
    """A person of the fake WeChat, linked in both apps."""

    user: WechatUser
    public_id: str
    id: int

    @property
    def mini_open_id(self) -> str:
        return self.user.open_id(MINI_APP_ID)

    @property
    def oa_open_id(self) -> str:
        return self.user.open_id(OA_APP_ID)


@dataclass
class Clock:
    now: datetime = NOON

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Activation:
    """A test's side of activation: its people, the fake WeChat, and a worker on `clock`."""

    settings: Settings
    database: Database
    keystore: KeyStore
    service: httpx.AsyncClient
    wechat: FakeWechat
    clock: Clock = field(default_factory=Clock)
    _workers: list[ActivationWorker] = field(default_factory=list)

    async def member(
        self,
        *,
        follows: bool = False,
        accepts: int = 0,
        template: str = "order_paid",
        marketing: bool | None = None,
    ) -> Member:
        """A person linked in both apps (one UnionID); following the official account,
        having accepted `template`'s subscribe message `accepts` times, and with a marketing
        choice, as asked."""
        user = WechatUser(union_id="oU" + secrets.token_hex(12))
        ids = set()
        for channel, app_id in (("MINI_PROGRAM", MINI_APP_ID), ("OFFICIAL_ACCOUNT", OA_APP_ID)):
            link = {
                "channel": channel,
                "appId": app_id,
                "openId": user.open_id(app_id),
                "unionId": user.union_id,
            }
            body = await gql(self.service, LINK, {"input": link})
            assert "errors" not in body, body
            ids.add(body["data"]["linkIdentity"]["id"])
        (public_id,) = ids
        async with self.database.transaction() as session:
            pid = await session.scalar(
                sa.select(col(Profile.id)).where(col(Profile.public_id) == public_id)
            )
            assert pid is not None
            keyring = TEST_KEYRING
            if follows:
                await subscriptions.set_follow(
                    session=session,
                    profile_id=pid,
                    app_id=OA_APP_ID,
                    open_id_bidx=_open_bidx(keyring, OA_APP_ID, user.open_id(OA_APP_ID)),
                    following=True,
                    at=self.clock() - timedelta(days=1),
                )
                self.wechat.messages.follow(OA_APP_ID, user.open_id(OA_APP_ID))
            if accepts:
                template_id = self.settings.activation_templates[template].template_id
                for _ in range(accepts):
                    await subscriptions.record_choice(
                        session=session,
                        profile_id=pid,
                        app_id=MINI_APP_ID,
                        open_id_bidx=_open_bidx(keyring, MINI_APP_ID, user.open_id(MINI_APP_ID)),
                        template_id=template_id,
                        choice="accept",
                        at=self.clock() - timedelta(hours=1),
                    )
                self.wechat.messages.accept(
                    MINI_APP_ID, user.open_id(MINI_APP_ID), template_id, accepts
                )
            if marketing is not None:
                for channel in (Channel.MINI_PROGRAM, Channel.OFFICIAL_ACCOUNT, Channel.SMS):
                    session.add(
                        Consent(
                            profile_id=pid,
                            purpose=ConsentPurpose.MARKETING,
                            channel=channel,
                            granted=marketing,
                        )
                    )
        return Member(user, public_id, int(pid))

    def worker(self) -> OutboxWorker:
        return self.whole_worker().worker

    def whole_worker(self) -> ActivationWorker:
        """The worker with its rounds (audience changes, expiries, campaigns)."""
        built = ActivationWorker(
            self.settings, self.database, KeyringSource.fixed(TEST_KEYRING), self.keystore
        )
        built.worker.clock = self.clock
        for handler in built.worker.handlers.values():
            if hasattr(handler, "clock"):
                handler.clock = self.clock
        self._workers.append(built)
        return built

    async def close(self) -> None:
        for built in self._workers:
            await built.aclose()

    async def queue(
        self, name: str, members: list[Member], key: str = "k", **variables: str
    ) -> list[Queued]:
        async with self.database.transaction() as session:
            return await queue_messages(
                session=session,
                settings=self.settings,
                name=name,
                recipients=[Recipient(m.id, f"{key}:{m.id}", variables) for m in members],
                now=self.clock(),
            )

    async def rows(self) -> list[OutboxMessage]:
        async with self.database.transaction() as session:
            found = await session.scalars(sa.select(OutboxMessage).order_by(col(OutboxMessage.id)))
            return list(found)


def _open_bidx(keyring: Any, app_id: str, open_id: str) -> bytes:
    del app_id  # the index is of the OpenID alone; the app is beside it
    return bytes(keyring.blind_index("open_id", open_id))
