"""Every webhook event from its real cause, through the API: a merge, consent choices, orders,
an erasure. Deliveries about the erased person that had not gone yet carry only the
tombstone id, and nothing the brand receives names them afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cdp.config import Settings
from cdp.db import utcnow
from cdp.devwechat.fake import FakeWechat
from tests.conftest import ClientFactory, make_settings
from tests.support.activation import Activation, activation_config
from tests.support.erasure_calls import erase
from tests.support.erasure_people import Person
from tests.support.webhook_receiver import Receiver, receiving

EVERY = [
    "profile.merged",
    "consent.changed",
    "order.status_changed",
    "erasure.completed",
    "audience.entered",
    "audience.left",
]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def settings(database_url: str, wechat: FakeWechat, receiver: Receiver) -> Settings:
    receiver.received.clear()
    receiver.statuses.clear()
    hooks = {"crm": {"url": receiver.url, "secret": "whsec-0123456789abcdef", "events": EVERY}}
    return make_settings(database_url, **activation_config(wechat.base_url, webhooks=hooks))


async def drain(activation: Activation) -> None:
    worker = activation.worker()
    while await worker.run_once():
        pass


async def test_each_event_reaches_the_brand_and_an_erased_person_only_as_a_tombstone(
    activation: Activation,
    receiver: Receiver,
    client_for: ClientFactory,
    people: tuple[Person, Person],
) -> None:
    anna, bystander = people
    receiver.statuses.extend([503] * 100)  # the brand is down: deliveries wait
    activation.clock.now = utcnow()
    await drain(activation)
    bodies = [json.loads(d.body) for d in receiver.received]
    events = {b["event"] for b in bodies}
    assert {"profile.merged", "consent.changed", "order.status_changed"} <= events
    merged = next(
        b for b in bodies if b["event"] == "profile.merged" and b["data"]["profileId"] == anna.id
    )
    assert merged["data"]["mergedProfileId"] == anna.merged_id
    done = await erase(client_for, anna, "DELETE")
    receiver.received.clear()
    receiver.statuses.clear()  # back up
    activation.clock.advance(hours=2)
    await drain(activation)
    delivered = [json.loads(d.body) for d in receiver.received]
    for body in delivered:
        assert anna.id not in json.dumps(body) and anna.merged_id not in json.dumps(body)
    (completed,) = [b for b in delivered if b["event"] == "erasure.completed"]
    tombstone = completed["data"]["profileId"]
    assert tombstone not in (anna.id, anna.merged_id)
    about_anna = [b for b in delivered if b["data"] == {"profileId": tombstone}]
    assert len(about_anna) >= 3  # her merge, consents and orders, tombstoned (and the erasure)
    assert any(b["data"].get("profileId") == bystander.id for b in delivered)
    assert done["status"] == "COMPLETED"
