"""What the support desk's card reads beside the tier: the paid spend behind it and the next
tier's threshold (`tierProgress`), and what canContact answers for the profile found
(`Profile.canContact`), the same answer the service role's root canContact gives."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cdp.auth import Role
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.purchases import RECORD, new_customer, order_input

CARD = """
query($id: ID!) {
  profile(id: $id, purpose: "工单 T-7: 会员等级咨询") {
    tier tierProgress { spendFen nextTier nextTierFen }
  }
}
"""
REFUND = """
mutation($input: RecordOrderInput!) { recordOrder(input: $input) { status } }
"""
PAIRS = [
    (purpose, channel)
    for purpose in ("MARKETING", "ACTIVITY_NOTIFICATIONS", "PERSONALIZATION", "ANALYTICS")
    for channel in ("MINI_PROGRAM", "OFFICIAL_ACCOUNT", "SMS")
]
CHOOSE = """
mutation($input: UpdateMyConsentsInput!) { updateMyConsents(input: $input) { id } }
"""


def paid_now(profile_id: str, external_id: str, total_fen: int) -> dict[str, Any]:
    """A paid order of exactly `total_fen`, paid just now (inside the 12-month window)."""
    return order_input(
        profile_id,
        external_id,
        items=[{"sku": "GIFT-1", "name": "礼盒", "quantity": 1, "unitPriceFen": total_fen}],
        discountFen=0,
        shippingFen=0,
        paidAt=None,
    )


async def card(support: httpx.AsyncClient, profile_id: str) -> dict[str, Any]:
    body = await gql(support, CARD, {"id": profile_id})
    assert "errors" not in body, body
    return body["data"]["profile"]  # type: ignore[no-any-return]


async def test_support_sees_the_spend_behind_the_tier_and_what_the_next_tier_needs(
    service_client: httpx.AsyncClient, support_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    pid, _ = await new_customer(service_client, client_for, 71)
    assert await card(support_client, pid) == {
        "tier": "STANDARD",
        "tierProgress": {"spendFen": 0, "nextTier": "VIP", "nextTierFen": 100_000},
    }
    for n, fen in enumerate((60_000, 60_000)):
        body = await gql(service_client, RECORD, {"input": paid_now(pid, f"T-{n}", fen)})
        assert "errors" not in body, body
    assert await card(support_client, pid) == {
        "tier": "VIP",
        "tierProgress": {"spendFen": 120_000, "nextTier": "SUPREME", "nextTierFen": 500_000},
    }
    body = await gql(service_client, RECORD, {"input": paid_now(pid, "T-big", 400_000)})
    assert "errors" not in body, body
    assert await card(support_client, pid) == {
        "tier": "SUPREME",
        "tierProgress": {"spendFen": 520_000, "nextTier": None, "nextTierFen": None},
    }
    # A refund takes its spend out again, and the tier with it.
    refunded = {**paid_now(pid, "T-big", 400_000), "status": "REFUNDED"}
    body = await gql(service_client, REFUND, {"input": refunded})
    assert body["data"]["recordOrder"]["status"] == "REFUNDED", body
    assert (await card(support_client, pid))["tierProgress"]["spendFen"] == 120_000


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.COMPLIANCE])
async def test_a_profiles_can_contact_answers_as_the_service_roles_can_contact_does(
    service_client: httpx.AsyncClient, client_for: ClientFactory, role: Role
) -> None:
    pid, customer = await new_customer(service_client, client_for, 72)
    choices = [
        {"purpose": "MARKETING", "channel": "SMS", "granted": True},
        {"purpose": "ACTIVITY_NOTIFICATIONS", "channel": "OFFICIAL_ACCOUNT", "granted": False},
    ]
    body = await gql(customer, CHOOSE, {"input": {"consents": choices}})
    assert "errors" not in body, body
    fields = " ".join(
        f"c{n}: canContact(purpose: {p}, channel: {c}) {{ allowed reason }}"
        for n, (p, c) in enumerate(PAIRS)
    )
    staff = client_for(role)
    body = await gql(
        staff, f'{{ profile(id: "{pid}", purpose: "工单 T-8: 退订咨询") {{ {fields} }} }}'
    )
    assert "errors" not in body, body
    seen = body["data"]["profile"]
    for n, (purpose, channel) in enumerate(PAIRS):
        root = await gql(
            service_client,
            "query($id: ID!, $p: ConsentPurpose!, $c: Channel!) "
            "{ canContact(profileId: $id, purpose: $p, channel: $c) { allowed reason } }",
            {"id": pid, "p": purpose, "c": channel},
        )
        assert seen[f"c{n}"] == root["data"]["canContact"], (purpose, channel)
    answers = {pair: seen[f"c{n}"] for n, pair in enumerate(PAIRS)}
    assert answers["MARKETING", "SMS"] == {"allowed": True, "reason": "CONSENTED"}
    assert answers["MARKETING", "MINI_PROGRAM"] == {"allowed": False, "reason": "NO_CONSENT"}
    assert answers["ACTIVITY_NOTIFICATIONS", "OFFICIAL_ACCOUNT"] == {
        "allowed": False,
        "reason": "OPTED_OUT",
    }
    assert answers["ACTIVITY_NOTIFICATIONS", "SMS"] == {"allowed": True, "reason": "DEFAULT"}


async def test_an_analyst_reaches_neither_the_spend_nor_the_contact_answer(
    service_client: httpx.AsyncClient, analyst_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    pid, _ = await new_customer(service_client, client_for, 73)
    body = await gql(
        analyst_client,
        f'{{ profile(id: "{pid}", purpose: "x") {{ tierProgress {{ spendFen }} '
        "canContact(purpose: MARKETING, channel: SMS) { allowed } } }",
    )
    assert body["data"] == {"profile": None}
    assert error_codes(body) == ["FORBIDDEN"]
