"""Messages through the fake WeChat on loopback: a subscribe message spends an acceptance,
a template message reaches a follower, and WeChat's refusals and failures end as they must."""

from __future__ import annotations

import sqlalchemy as sa

from cdp.devwechat.fake_messages import SUBSCRIBE_SEND, TEMPLATE_SEND
from cdp.subscriptions.models import SubscribeGrant
from tests.support.activation import Activation


async def available(activation: Activation, profile_id: int) -> int:
    async with activation.database.transaction() as session:
        found = await session.scalar(
            sa.select(SubscribeGrant.available).where(SubscribeGrant.profile_id == profile_id)  # type: ignore[arg-type]
        )
    return int(found or 0)


async def test_a_paid_order_notice_is_sent_as_a_subscribe_message_spending_one_acceptance(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=2)
    queued = await activation.queue(
        "order_paid", [anna], order_no="E20261203001", amount_yuan="128.00"
    )
    assert queued[0].decision.allowed and queued[0].new
    assert await available(activation, anna.id) == 1  # spent when queued
    assert await activation.worker().run_once() == 1
    (sent,) = activation.wechat.messages.sent
    assert (sent.api, sent.open_id, sent.template_id) == (
        "subscribe",
        anna.mini_open_id,
        "TPL-order-paid-0001",
    )
    assert sent.data["character_string1"] == {"value": "E20261203001"}
    (row,) = await activation.rows()
    assert row.state == "SENT" and row.result == {"msgid": sent.msgid}


async def test_wechat_saying_no_acceptance_is_left_refuses_the_message_and_empties_the_ledger(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1)
    activation.wechat.messages.acceptances.clear()  # spent elsewhere, as WeChat knows
    await activation.queue("order_paid", [anna], order_no="E1", amount_yuan="1.00")
    await activation.worker().run_once()
    (row,) = await activation.rows()
    assert (row.state, row.reason) == ("REFUSED", "NO_SUBSCRIPTION")
    assert "43101" in (row.last_error or "")
    assert await available(activation, anna.id) == 0
    assert activation.wechat.messages.sent == []


async def test_a_shipping_notice_reaches_a_follower_as_a_template_message(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    await activation.queue("order_shipped", [anna], order_no="E2")
    await activation.worker().run_once()
    (sent,) = activation.wechat.messages.sent
    assert (sent.api, sent.open_id) == ("template", anna.oa_open_id)
    assert (await activation.rows())[0].state == "SENT"


async def test_a_person_who_unfollowed_in_wechat_is_refused_as_not_following(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    activation.wechat.messages.followers.clear()
    await activation.queue("order_shipped", [anna], order_no="E3")
    await activation.worker().run_once()
    (row,) = await activation.rows()
    assert (row.state, row.reason) == ("REFUSED", "NOT_FOLLOWING")


async def test_the_daily_api_limit_waits_the_limit_backoff_before_trying_again(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1)
    activation.wechat.then(SUBSCRIBE_SEND, {"errcode": 45009})
    await activation.queue("order_paid", [anna], order_no="E4", amount_yuan="2.00")
    worker = activation.worker()
    await worker.run_once()
    (row,) = await activation.rows()
    assert row.state == "PENDING" and row.attempts == 1 and "45009" in (row.last_error or "")
    wait = (row.due_at - activation.clock()).total_seconds()
    assert wait >= activation.settings.activation_limit_backoff_seconds
    activation.clock.advance(seconds=wait + 1)
    await worker.run_once()
    assert (await activation.rows())[0].state == "SENT"
    assert len(activation.wechat.messages.sent) == 1


async def test_an_expired_access_token_is_refreshed_and_the_send_tried_once_more(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1)
    worker = activation.worker()
    await activation.queue("order_paid", [anna], key="first", order_no="E5", amount_yuan="3.00")
    await worker.run_once()
    activation.wechat.phone.revoke_tokens()  # WeChat now refuses the token cdp holds: 40001
    async with activation.database.transaction() as session:
        await session.execute(sa.update(SubscribeGrant).values(available=1))
    activation.wechat.messages.accept(
        activation.settings.activation_templates["order_paid"].app_id or "",
        anna.mini_open_id,
        "TPL-order-paid-0001",
    )
    await activation.queue("order_paid", [anna], key="second", order_no="E6", amount_yuan="4.00")
    await worker.run_once()
    assert [row.state for row in await activation.rows()] == ["SENT", "SENT"]
    assert len(activation.wechat.messages.sent) == 2


async def test_system_busy_on_every_try_is_retried_later_with_backoff(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1)
    activation.wechat.then(SUBSCRIBE_SEND, {"errcode": -1}, {"errcode": -1})
    await activation.queue("order_paid", [anna], order_no="E7", amount_yuan="5.00")
    worker = activation.worker()
    await worker.run_once()
    (row,) = await activation.rows()
    assert row.state == "PENDING" and "BUSY" in (row.last_error or "")
    activation.clock.advance(hours=1)
    await worker.run_once()
    assert (await activation.rows())[0].state == "SENT"


async def test_a_timed_out_subscribe_message_is_uncertain_and_never_sent_again(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=2)
    activation.wechat.then(SUBSCRIBE_SEND, {"delay": 1.5})  # answers after cdp gave up
    await activation.queue("order_paid", [anna], order_no="E8", amount_yuan="6.00")
    worker = activation.worker()
    await worker.run_once()
    (row,) = await activation.rows()
    assert row.state == "UNCERTAIN"
    activation.clock.advance(hours=2)
    assert await worker.run_once() == 0


async def test_a_timed_out_template_message_is_retried_and_wechat_keeps_one_copy(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    activation.wechat.then(TEMPLATE_SEND, {"delay": 1.5})
    await activation.queue("order_shipped", [anna], order_no="E9")
    worker = activation.worker()
    await worker.run_once()
    assert (await activation.rows())[0].state == "PENDING"
    activation.clock.advance(minutes=1)
    await worker.run_once()
    assert (await activation.rows())[0].state == "SENT"
    # The first try reached WeChat after the timeout; the same client_msg_id sent once.
    assert len(activation.wechat.messages.sent) == 1
