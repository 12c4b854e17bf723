"""Documents and inputs that record orders and earn points, and a customer to record them for."""

from __future__ import annotations

from typing import Any

import httpx

from cdp.auth import Role
from tests.conftest import ClientFactory
from tests.support.people import MINI, link

CANARY_STREET = "南京西路金丝雀大厦1808室"
CANARY_DISTRICT = "静安金丝雀区"
ADDRESS = {
    "province": "上海市",
    "city": "上海市",
    "district": CANARY_DISTRICT,
    "street": CANARY_STREET,
}
ORDER_FIELDS = """
  id channel externalId status itemsFen discountFen shippingFen totalFen
  entryFrom entryParams paidAt updatedAt
  items { sku name quantity unitPriceFen amountFen }
"""
RECORD = f"""
mutation Record($input: RecordOrderInput!) {{
  recordOrder(input: $input) {{ {ORDER_FIELDS} }}
}}
"""
PAID_AT = "2024-05-01T10:30:00+08:00"


def order_input(profile_id: str, external_id: str = "WX-1001", **overrides: Any) -> dict[str, Any]:
    """A valid order: 2 x 1999 + 1 x 5000 fen, 1000 off, 800 shipping (8798 fen in all)."""
    given: dict[str, Any] = {
        "profileId": profile_id,
        "channel": "MINI_PROGRAM",
        "externalId": external_id,
        "status": "PAID",
        "items": [
            {"sku": "TEA-001", "name": "西湖龙井 250g", "quantity": 2, "unitPriceFen": 1999},
            {"sku": "CUP-007", "name": "青瓷茶杯", "quantity": 1, "unitPriceFen": 5000},
        ],
        "discountFen": 1000,
        "shippingFen": 800,
        "paidAt": PAID_AT,
        "entry": "from=article&id=123",
        "shippingAddress": ADDRESS,
    }
    given.update(overrides)
    return given


async def new_customer(
    service_client: httpx.AsyncClient, client_for: ClientFactory, n: int = 1
) -> tuple[str, httpx.AsyncClient]:
    profile = await link(service_client, "MINI_PROGRAM", MINI, f"oOrderBuyer{n:016d}")
    return profile["id"], client_for(Role.CUSTOMER, subject=profile["id"])


ENTRY = "id kind points balanceAfter reason channel createdAt expiresAt"
EARN = f"mutation Earn($input: EarnPointsInput!) {{ earnPoints(input: $input) {{ {ENTRY} }} }}"
