"""Messages by SMS through the Tencent Cloud SMS stand-in on loopback: the person's phone
read (and decrypted) only when sending, the template's parameters in order, a bad number
refused, and a timeout uncertain (SendSms drops no second copy)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cdp.auth import Role
from cdp.config import Settings
from cdp.devwechat.fake import FakeWechat
from cdp.devwechat.loopback import LoopbackServer
from tests.conftest import ClientFactory, gql, make_settings
from tests.support.activation import TEMPLATES, Activation, Member, activation_config
from tests.support.tencent_sms import NOTICE_TEMPLATE_ID, FakeTencentSms, sms_config

PICKUP = {
    "channel": "SMS",
    "template_id": NOTICE_TEMPLATE_ID,
    "purpose": "ACTIVITY_NOTIFICATIONS",
    "fields": {"p1": "{order_no}", "p2": "门店自提"},
    "quiet_hours": False,
}
UPDATE = "mutation U($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }"


@pytest.fixture(scope="module")
def fake_sms_server() -> Iterator[tuple[FakeTencentSms, str]]:
    fake = FakeTencentSms()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        yield fake, server.url


@pytest.fixture
def sms(fake_sms_server: tuple[FakeTencentSms, str]) -> FakeTencentSms:
    fake_sms_server[0].reset()
    return fake_sms_server[0]


@pytest.fixture
def settings(
    database_url: str, wechat: FakeWechat, fake_sms_server: tuple[FakeTencentSms, str]
) -> Settings:
    return make_settings(
        database_url,
        **activation_config(
            wechat.base_url, activation_templates={**TEMPLATES, "pickup_ready": PICKUP}
        ),
        sms_tencent=sms_config(fake_sms_server[1]),
        sms_timeout_seconds=1.0,
    )


async def with_phone(activation: Activation, client_for: ClientFactory, phone: str) -> Member:
    member = await activation.member()
    customer = client_for(Role.CUSTOMER, subject=member.public_id)
    body = await gql(customer, UPDATE, {"input": {"phone": phone}})
    assert "errors" not in body, body
    return member


async def test_a_pickup_notice_goes_by_sms_to_the_persons_phone(
    activation: Activation, client_for: ClientFactory, sms: FakeTencentSms
) -> None:
    anna = await with_phone(activation, client_for, "13812345678")
    await activation.queue("pickup_ready", [anna], order_no="E42")
    await activation.worker().run_once()
    assert sms.sent == [("+8613812345678", ["E42", "门店自提"])]
    (row,) = await activation.rows()
    assert row.state == "SENT"
    assert "13812345678" not in str(row.payload)


async def test_someone_without_a_phone_is_refused_before_the_provider_is_asked(
    activation: Activation, sms: FakeTencentSms
) -> None:
    anna = await activation.member()
    await activation.queue("pickup_ready", [anna], order_no="E43")
    assert [(r.state, r.reason) for r in await activation.rows()] == [("REFUSED", "NO_RECIPIENT")]
    assert sms.sent == []


async def test_a_number_the_provider_cannot_reach_is_refused(
    activation: Activation, client_for: ClientFactory, sms: FakeTencentSms
) -> None:
    anna = await with_phone(activation, client_for, "13812345679")
    sms.script.append({"status": "InvalidParameterValue.IncorrectPhoneNumber"})
    await activation.queue("pickup_ready", [anna], order_no="E44")
    await activation.worker().run_once()
    (row,) = await activation.rows()
    assert (row.state, row.reason) == ("REFUSED", "NO_RECIPIENT")


async def test_an_sms_that_timed_out_is_uncertain_and_never_sent_again(
    activation: Activation, client_for: ClientFactory, sms: FakeTencentSms
) -> None:
    anna = await with_phone(activation, client_for, "13812345670")
    sms.script.append({"delay": 1.5})
    await activation.queue("pickup_ready", [anna], order_no="E45")
    worker = activation.worker()
    await worker.run_once()
    (row,) = await activation.rows()
    assert row.state == "UNCERTAIN"
    activation.clock.advance(hours=1)
    assert await worker.run_once() == 0
