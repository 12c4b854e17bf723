"""Triggers and webhooks end to end: an order recorded through GraphQL sends its notice
through the fake WeChat and its signed webhook to the brand, after-sales care goes seven
days later, expiring points are reminded, audience changes reach both, and a delivery about
an erased person carries only the tombstone id."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from cdp.audiences.models import Audience, MembershipChange
from cdp.config import Settings
from cdp.db import utcnow
from cdp.devwechat.fake import FakeWechat
from cdp.erasure.purge import tombstone_deliveries
from cdp.loyalty.models import EntryKind, PointsEntry, PointsLot
from tests.conftest import gql, make_settings
from tests.support.activation import TEMPLATES, Activation, activation_config
from tests.support.webhook_receiver import Receiver, receiving

SECRET = "whsec-0123456789abcdef"
RECORD = """
mutation Record($input: RecordOrderInput!) { recordOrder(input: $input) { id status } }
"""
TRIGGERS = [
    {"on": "order.paid", "template": "order_paid"},
    {"on": "order.completed", "template": "after_sales", "days": 7},
    {"on": "points.expiring", "template": "points_expiring", "days": 7},
    {"on": "audience.entered", "template": "welcome_back", "audience": "lapsed"},
    {"on": "tier.changed", "template": "tier_up"},
    {"on": "coupon.expiring", "template": "coupon_expiring", "days": 3},
]
MORE_TEMPLATES = {
    **TEMPLATES,
    "coupon_expiring": {
        **TEMPLATES["order_paid"],
        "template_id": "TPL-coupon-expiry-1",
        "fields": {"thing1": "{coupon_title}", "date2": "{expires_on}"},
    },
    "tier_up": {
        **TEMPLATES["order_shipped"],
        "template_id": "TPL-tier-up-000001",
        "fields": {"keyword1": "{tier}", "keyword2": "会员权益已升级"},
    },
    "welcome_back": {
        **TEMPLATES["order_shipped"],
        "template_id": "TPL-welcome-back-01",
        "fields": {"keyword1": "好久不见，新品已上架"},
    },
    "after_sales": {
        **TEMPLATES["order_paid"],
        "template_id": "TPL-after-sales-001",
        "fields": {"thing1": "使用满意吗？欢迎评价", "character_string2": "{order_no}"},
    },
    "points_expiring": {
        **TEMPLATES["order_paid"],
        "template_id": "TPL-points-expiry-1",
        "fields": {"number1": "{points}", "date2": "{expires_on}"},
    },
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def settings(database_url: str, wechat: FakeWechat, receiver: Receiver) -> Settings:
    receiver.received.clear()
    receiver.statuses.clear()
    hooks = {
        "crm": {
            "url": receiver.url,
            "secret": SECRET,
            "events": [
                "order.status_changed",
                "audience.entered",
                "audience.left",
                "consent.changed",
            ],
        }
    }
    return make_settings(
        database_url,
        **activation_config(
            wechat.base_url,
            activation_templates=MORE_TEMPLATES,
            activation_triggers=TRIGGERS,
            webhooks=hooks,
        ),
    )


def order(profile_id: str, status: str = "PAID") -> dict[str, Any]:
    return {
        "input": {
            "profileId": profile_id,
            "channel": "MINI_PROGRAM",
            "externalId": "E20261203777",
            "status": status,
            "discountFen": 0,
            "shippingFen": 0,
            "items": [{"sku": "TEA-1", "name": "龙井", "quantity": 1, "unitPriceFen": 12800}],
        }
    }


async def drain(activation: Activation) -> None:
    worker = activation.worker()
    while await worker.run_once():
        pass


def verified(receiver: Receiver) -> list[dict[str, Any]]:
    """Every delivery's body, after checking its signature as the brand would."""
    bodies = []
    for delivery in receiver.received:
        stamp = delivery.headers["x-cdp-timestamp"]
        expected = hmac.new(
            SECRET.encode(), stamp.encode() + b"." + delivery.body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(delivery.headers["x-cdp-signature"], f"v1={expected}")
        bodies.append(json.loads(delivery.body))
    return bodies


async def test_a_paid_order_sends_its_notice_and_a_signed_webhook(
    activation: Activation, receiver: Receiver
) -> None:
    anna = await activation.member(accepts=1)
    activation.clock.now = utcnow() + timedelta(seconds=1)
    body = await gql(activation.service, RECORD, order(anna.public_id))
    assert "errors" not in body, body
    await drain(activation)
    (sent,) = activation.wechat.messages.sent
    assert sent.data["character_string1"] == {"value": "E20261203777"}
    assert sent.data["amount2"] == {"value": "128.00"}
    (delivery,) = verified(receiver)
    assert delivery["event"] == "order.status_changed"
    assert delivery["data"]["profileId"] == anna.public_id
    assert delivery["data"]["status"] == "PAID"
    assert receiver.received[0].headers["x-cdp-delivery"] == delivery["id"]


async def test_a_webhook_the_brand_fails_is_retried_with_the_same_delivery_id(
    activation: Activation, receiver: Receiver
) -> None:
    anna = await activation.member()
    receiver.statuses.extend([503])
    activation.clock.now = utcnow() + timedelta(seconds=1)
    await gql(activation.service, RECORD, order(anna.public_id))
    await drain(activation)
    hooks = [row for row in await activation.rows() if row.kind == "webhook"]
    assert [(h.state, h.attempts) for h in hooks] == [("PENDING", 1)]
    assert "503" in (hooks[0].last_error or "")
    activation.clock.advance(minutes=5)
    await drain(activation)
    first, second = verified(receiver)
    assert first["id"] == second["id"]
    assert [row.state for row in await activation.rows() if row.kind == "webhook"] == ["SENT"]


async def test_after_sales_care_goes_seven_days_after_the_order_completed(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1, template="after_sales")
    activation.clock.now = utcnow() + timedelta(seconds=1)
    await gql(activation.service, RECORD, order(anna.public_id, "COMPLETED"))
    await drain(activation)
    assert activation.wechat.messages.sent == []
    activation.clock.advance(days=6)
    await drain(activation)
    assert activation.wechat.messages.sent == []
    activation.clock.advance(days=1, seconds=1)
    await drain(activation)
    (sent,) = activation.wechat.messages.sent
    assert sent.template_id == "TPL-after-sales-001"
    assert sent.data["character_string2"] == {"value": "E20261203777"}


async def test_points_expiring_in_seven_days_are_reminded_once(activation: Activation) -> None:
    anna = await activation.member(accepts=2, template="points_expiring")
    now = activation.clock()
    async with activation.database.transaction() as session:
        expires = now + timedelta(days=7, hours=2)
        entry = PointsEntry(
            profile_id=anna.id,
            kind=EntryKind.EARN,
            points=300,
            balance_after=300,
            idempotency_key="earn-1",
            expires_at=expires,
            created_at=now,
        )
        session.add(entry)
        await session.flush()
        assert entry.id is not None
        session.add(
            PointsLot(profile_id=anna.id, entry_id=entry.id, remaining=300, expires_at=expires)
        )
    worker = activation.worker()
    from cdp.activation.relays import sweep_expiring

    assert await sweep_expiring(activation.database, activation.settings, now) == 1
    assert await sweep_expiring(activation.database, activation.settings, now) == 0
    await worker.run_once()
    (sent,) = activation.wechat.messages.sent
    assert sent.data["number1"] == {"value": "300"}


async def test_entering_an_audience_sends_its_message_and_webhook_once(
    activation: Activation, receiver: Receiver
) -> None:
    from cdp.activation.relays import relay_audience_changes

    anna = await activation.member(follows=True)
    async with activation.database.transaction() as session:
        audience = Audience(name="lapsed", definition={}, created_by="m", updated_by="m")
        session.add(audience)
        await session.flush()
        session.add(
            MembershipChange(
                audience_id=audience.id,
                profile_id=anna.id,
                change="ENTERED",
                why="MATCHES",
                trigger="UPDATE",
                version=1,
                run_id="r1",
                at=utcnow() - timedelta(minutes=5),
            )
        )
    now = utcnow()
    assert await relay_audience_changes(activation.database, activation.settings, now) == 1
    assert await relay_audience_changes(activation.database, activation.settings, now) == 0
    activation.clock.now = now + timedelta(seconds=1)
    await drain(activation)
    (sent,) = activation.wechat.messages.sent
    assert sent.open_id == anna.oa_open_id
    (delivery,) = verified(receiver)
    assert delivery["event"] == "audience.entered"
    assert delivery["data"] == {"profileId": anna.public_id, "audience": "lapsed", "why": "MATCHES"}


async def test_a_delivery_about_a_person_erased_before_it_went_carries_only_the_tombstone(
    activation: Activation, receiver: Receiver
) -> None:
    anna = await activation.member()
    activation.clock.now = utcnow() + timedelta(seconds=1)
    await gql(activation.service, RECORD, order(anna.public_id))
    worker = activation.worker()
    await worker.run_once()  # the event: its webhook delivery is queued
    async with activation.database.transaction() as session:
        assert await tombstone_deliveries(session, anna.id, "tomb-0001") == 1
    await drain(activation)
    (delivery,) = verified(receiver)
    assert delivery["data"] == {"profileId": "tomb-0001"}
    assert anna.public_id.encode() not in receiver.received[0].body
    rows = await activation.rows()
    assert all(anna.public_id not in json.dumps(r.payload) for r in rows if r.kind == "webhook")


async def test_a_tier_change_sends_its_message_with_the_new_tier(activation: Activation) -> None:
    anna = await activation.member(follows=True)
    activation.clock.now = utcnow() + timedelta(seconds=1)
    big = order(anna.public_id)
    big["input"]["items"][0]["unitPriceFen"] = 150_000  # past the VIP threshold at once
    body = await gql(activation.service, RECORD, big)
    assert "errors" not in body, body
    await drain(activation)
    (sent,) = [m for m in activation.wechat.messages.sent if m.template_id == "TPL-tier-up-000001"]
    assert sent.data["keyword1"] == {"value": "VIP"}


async def test_a_coupon_ending_in_three_days_is_reminded_once_and_a_redeemed_one_not(
    activation: Activation,
) -> None:
    from cdp.activation.relays import sweep_expiring
    from cdp.loyalty.models import Coupon, CouponKind

    anna = await activation.member(accepts=2, template="coupon_expiring")
    now = activation.clock()
    async with activation.database.transaction() as session:
        for key, redeemed in (("c1", None), ("c2", now)):
            session.add(
                Coupon(
                    profile_id=anna.id,
                    title="满100减20",
                    kind=CouponKind.AMOUNT,
                    discount_fen=2000,
                    valid_from=now - timedelta(days=10),
                    valid_until=now + timedelta(days=3, hours=1),
                    idempotency_key=key,
                    redeemed_at=redeemed,
                )
            )
    assert await sweep_expiring(activation.database, activation.settings, now) == 1
    assert await sweep_expiring(activation.database, activation.settings, now) == 0
    await activation.worker().run_once()
    (sent,) = activation.wechat.messages.sent
    assert sent.data["thing1"] == {"value": "满100减20"}
