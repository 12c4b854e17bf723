"""Activation in GraphQL: a service queues one person's message through the send decision;
a marketer schedules, forecasts and reads campaigns in counts only; every other role is
refused by the policy table."""

from __future__ import annotations

from typing import Any

from cdp.auth import Role
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.activation import Activation

SEND = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) { allowed reason new notBefore }
}
"""
SCHEDULE = """
mutation Schedule($input: ScheduleCampaignInput!) {
  scheduleCampaign(input: $input) { name status totals { queued { count suppressed } } }
}
"""
FORECAST = """
query Forecast($t: String!, $a: String!) {
  campaignForecast(template: $t, audience: $a) {
    members { count suppressed } wouldSend { count suppressed }
    refused { reason people { count suppressed } }
  }
}
"""


def send_input(profile_id: str, key: str = "k1") -> dict[str, Any]:
    return {
        "input": {
            "profileId": profile_id,
            "template": "order_paid",
            "idempotencyKey": key,
            "variables": [
                {"name": "order_no", "value": "E1"},
                {"name": "amount_yuan", "value": "1.00"},
            ],
        }
    }


async def test_a_service_queues_one_persons_message_once_per_key(
    activation: Activation,
) -> None:
    anna = await activation.member(accepts=1)
    first = await gql(activation.service, SEND, send_input(anna.public_id))
    again = await gql(activation.service, SEND, send_input(anna.public_id))
    assert first["data"]["sendMessage"] == {
        "allowed": True,
        "reason": "DEFAULT",
        "new": True,
        "notBefore": None,
    }
    assert again["data"]["sendMessage"]["new"] is False
    assert len(await activation.rows()) == 1


async def test_a_refused_message_answers_its_reason_and_is_recorded(
    activation: Activation,
) -> None:
    anna = await activation.member()
    body = await gql(activation.service, SEND, send_input(anna.public_id))
    assert body["data"]["sendMessage"]["reason"] == "NO_SUBSCRIPTION"
    assert [(r.state, r.reason) for r in await activation.rows()] == [
        ("REFUSED", "NO_SUBSCRIPTION")
    ]


async def test_a_template_variable_missing_is_bad_input(activation: Activation) -> None:
    anna = await activation.member(accepts=1)
    given = send_input(anna.public_id)
    given["input"]["variables"] = []
    body = await gql(activation.service, SEND, given)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_marketer_forecasts_and_schedules_campaigns_in_counts_only(
    activation: Activation, client_for: ClientFactory
) -> None:
    marketer = client_for(Role.MARKETER)
    body = await gql(marketer, FORECAST, {"t": "spring_sale", "a": "nobody_yet"})
    assert body["data"]["campaignForecast"]["members"] == {"count": None, "suppressed": True}
    scheduled = await gql(
        marketer,
        SCHEDULE,
        {"input": {"name": "双十二", "template": "spring_sale", "audience": "nobody_yet"}},
    )
    assert scheduled["data"]["scheduleCampaign"]["status"] == "SCHEDULED"


async def test_only_the_roles_of_the_policy_may_send_or_run_campaigns(
    activation: Activation, client_for: ClientFactory
) -> None:
    anna = await activation.member(accepts=1)
    for role in (Role.MARKETER, Role.SUPPORT, Role.ANALYST, Role.COMPLIANCE):
        body = await gql(client_for(role), SEND, send_input(anna.public_id, f"k-{role.value}"))
        assert error_codes(body) == ["FORBIDDEN"], role
    customer = client_for(Role.CUSTOMER, subject=anna.public_id)
    for client in (activation.service, customer, client_for(Role.SUPPORT)):
        body = await gql(client, FORECAST, {"t": "spring_sale", "a": "x"})
        assert error_codes(body) == ["FORBIDDEN"]
    assert await activation.rows() == []


CAN = """
query C($id: ID!, $t: String) {
  canContact(profileId: $id, purpose: ACTIVITY_NOTIFICATIONS, channel: MINI_PROGRAM, template: $t)
  { allowed reason }
}
"""


async def test_can_contact_for_a_template_answers_the_whole_send_decision(
    activation: Activation,
) -> None:
    anna = await activation.member()
    plain = await gql(activation.service, CAN, {"id": anna.public_id, "t": None})
    assert plain["data"]["canContact"] == {"allowed": True, "reason": "DEFAULT"}
    templated = await gql(activation.service, CAN, {"id": anna.public_id, "t": "order_paid"})
    assert templated["data"]["canContact"] == {"allowed": False, "reason": "NO_SUBSCRIPTION"}
    wrong = await gql(activation.service, CAN, {"id": anna.public_id, "t": "order_shipped"})
    assert error_codes(wrong) == ["BAD_USER_INPUT"]
    assert await activation.rows() == []  # a question, not a send
