"""The outbox and its worker: queued with the cause or not at all, one message per key,
disjoint claims, backoff and the dead letter, and a worker killed between WeChat's send and
the acknowledgement never making WeChat send twice."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from cdp.db import Database, utcnow
from cdp.outbox.models import OutboxMessage
from cdp.outbox.outcomes import Outcome, Retry, Sent
from cdp.outbox.queue import Outgoing, enqueue
from cdp.outbox.worker import OutboxWorker, Pace
from tests.support.activation import NOON, Activation, Clock


class Counting:
    """A handler that answers from a script (then Sent) and counts what it was given."""

    def __init__(self, *answers: Outcome, resend_safe: bool = False) -> None:
        self.answers, self.seen, self.safe = list(answers), [], resend_safe

    def resend_safe(self, message: OutboxMessage, now: datetime) -> bool:
        return self.safe

    async def send(self, message: OutboxMessage) -> Outcome:
        self.seen.append(message.idempotency_key)
        return self.answers.pop(0) if self.answers else Sent({"ok": True})

    async def settle(self, session: object, message: OutboxMessage, outcome: Outcome) -> None:
        return None


def worker_for(database: Database, handler: Counting, clock: Clock, **pace: float) -> OutboxWorker:
    return OutboxWorker(database, {"test": handler}, Pace(**pace), clock=clock)  # type: ignore[arg-type]


async def put(database: Database, *keys: str) -> set[str]:
    async with database.transaction() as session:
        return await enqueue(
            session=session, messages=[Outgoing(kind="test", key=k) for k in keys], now=NOON
        )


async def test_a_message_queued_in_a_transaction_that_rolled_back_is_never_sent(
    database: Database,
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await enqueue(session=session, messages=[Outgoing(kind="test", key="gone")], now=NOON)
            raise RuntimeError("the cause failed")
    handler = Counting()
    assert await worker_for(database, handler, Clock()).run_once() == 0
    assert handler.seen == []


async def test_the_same_idempotency_key_queued_twice_is_one_message_sent_once(
    database: Database,
) -> None:
    assert await put(database, "order:1:paid") == {"order:1:paid"}
    assert await put(database, "order:1:paid") == set()
    handler = Counting()
    worker = worker_for(database, handler, Clock())
    await worker.run_once()
    await worker.run_once()
    assert handler.seen == ["order:1:paid"]


async def test_failures_back_off_doubling_then_the_message_is_dead_with_its_last_error(
    database: Database,
) -> None:
    await put(database, "flaky")
    handler = Counting(*(Retry(f"busy {n}") for n in range(1, 4)))
    clock = Clock()
    worker = worker_for(database, handler, clock, max_attempts=3, backoff_seconds=10)
    waits = []
    for _ in range(3):
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0  # not due yet
        async with database.transaction() as session:
            row = await session.get(OutboxMessage, 1, populate_existing=True)
        assert row is not None
        if row.state == "PENDING":
            waits.append((row.due_at - clock()).total_seconds())
            clock.advance(seconds=waits[-1])
    assert row.state == "DEAD" and row.last_error == "busy 3" and row.attempts == 3
    assert 10 <= waits[0] <= 12 and 20 <= waits[1] <= 24  # doubling, a fifth of jitter


async def test_two_workers_at_once_claim_disjoint_batches(database: Database) -> None:
    await put(database, *(f"m{n}" for n in range(40)))
    first, second = Counting(), Counting()
    clock = Clock()
    a = worker_for(database, first, clock, batch=15)
    b = worker_for(database, second, clock, batch=15)
    claimed = await asyncio.gather(a.claim(), b.claim(), a.claim(), b.claim())
    keys = [m.idempotency_key for batch in claimed for m in batch]
    assert len(keys) == 40 and len(set(keys)) == 40


async def test_a_worker_killed_after_send_never_sends_a_subscribe_message_twice(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=3)
    await activation.queue("order_paid", [anna], order_no="E10", amount_yuan="9.90")
    doomed = activation.worker()
    (message,) = await doomed.claim()
    await doomed.handlers[message.kind].send(message)  # WeChat sends; then the kill
    assert len(activation.wechat.messages.sent) == 1
    activation.clock.advance(seconds=activation.settings.outbox_lease_seconds + 1)
    survivor = activation.worker()
    assert await survivor.run_once() == 0
    (row,) = await activation.rows()
    assert row.state == "UNCERTAIN" and "not sent again" in (row.last_error or "")
    assert await doomed.record(message, Sent({"msgid": 1})) is False  # too late to count
    activation.clock.advance(hours=1)
    assert await survivor.run_once() == 0
    assert len(activation.wechat.messages.sent) == 1


async def test_a_worker_killed_after_sending_a_template_message_is_resent_and_wechat_drops_it(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    await activation.queue("order_shipped", [anna], order_no="E11")
    doomed = activation.worker()
    (message,) = await doomed.claim()
    await doomed.handlers[message.kind].send(message)
    activation.clock.advance(seconds=activation.settings.outbox_lease_seconds + 1)
    assert await activation.worker().run_once() == 1  # within client_msg_id's ten minutes
    (row,) = await activation.rows()
    assert row.state == "SENT" and row.attempts == 2
    assert len(activation.wechat.messages.sent) == 1


async def test_a_template_message_whose_worker_died_long_ago_is_uncertain_not_resent(
    activation: Activation,
) -> None:
    anna = await activation.member(follows=True)
    await activation.queue("order_shipped", [anna], order_no="E12")
    doomed = activation.worker()
    await doomed.claim()  # killed before or after sending: nobody knows
    activation.clock.advance(minutes=11)
    assert await activation.worker().run_once() == 0
    assert (await activation.rows())[0].state == "UNCERTAIN"


async def test_the_app_drains_the_outbox_in_its_lifespan_when_the_worker_is_on(
    activation: Activation,
) -> None:
    from cdp.app import create_app
    from cdp.devwechat.loopback import LoopbackServer
    from cdp.keys.source import KeyringSource
    from tests.conftest import TEST_KEYRING

    anna = await activation.member(follows=True)
    activation.clock.now = utcnow()
    await activation.queue("order_shipped", [anna], order_no="E99")
    on = activation.settings.model_copy(update={"outbox_poll_seconds": 0.1})
    app = create_app(on, keyring=KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app):
        for _ in range(200):
            if activation.wechat.messages.sent:
                break
            await asyncio.sleep(0.05)
    assert len(activation.wechat.messages.sent) == 1
    assert (await activation.rows())[0].state == "SENT"


async def test_finished_rows_are_pruned_once_no_cap_counts_them(activation: Activation) -> None:
    from datetime import timedelta

    from cdp.activation.relays import prune_outbox

    anna = await activation.member(follows=True)
    await activation.queue("order_shipped", [anna], order_no="E1")
    await activation.worker().run_once()
    settings = activation.settings
    now = activation.clock()
    assert await prune_outbox(activation.database, settings, now + timedelta(days=89)) == 0
    assert await prune_outbox(activation.database, settings, now + timedelta(days=91)) == 1
    assert await activation.rows() == []
