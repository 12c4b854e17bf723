"""Two seeded people (Anna and a bystander) with data in every table, and the people fixture."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cdp.auth import Role
from tests.conftest import ClientFactory, gql
from tests.support.people import MINI, OFFICIAL, link


@dataclass(frozen=True)
class Spec:
    """What is seeded for one person; every value is distinct per person, so it can be
    searched for."""

    key: str
    phone: str
    name: str
    street: str
    union_id: str
    mini_open_id: str
    official_open_id: str

    @property
    def e164(self) -> str:
        return f"+86{self.phone}"

    @property
    def address(self) -> dict[str, str]:
        return {"province": "浙江省", "city": "杭州市", "district": "西湖区", "street": self.street}

    def order_ids(self) -> list[str]:
        return [f"{self.key}-WX-1001", f"{self.key}-WEB-2002"]

    def coupon_titles(self) -> list[str]:
        return [f"{self.key} 满100减20", f"{self.key} 九折券"]

    def tags(self) -> list[str]:
        return [f"{self.key}-tea-lover", f"{self.key}-vip-2024"]

    def event_ids(self) -> list[str]:
        return [f"{self.key}-ev-0001", f"{self.key}-ev-0002", f"{self.key}-ev-0003"]

    def skus(self) -> list[str]:
        return [f"{self.key.upper()}-TEA-001", f"{self.key.upper()}-CUP-007"]


ANNA = Spec(
    key="anna",
    phone="13700005555",
    name="欧阳金丝雀",
    street="金丝雀路 77 号 1808 室",
    union_id="oUnionCanaryErase0000000001",
    mini_open_id="oMiniCanaryErase00000000001",
    official_open_id="oOffiCanaryErase00000000001",
)
BYSTANDER = Spec(
    key="bob",
    phone="13900007777",
    name="诸葛旁观者",
    street="旁观者大道 8 号",
    union_id="oUnionBystander000000000001",
    mini_open_id="oMiniBystander0000000000001",
    official_open_id="oOffiBystander0000000000001",
)
BIRTHDAY = "1986-03-14"
NOW = datetime.now(UTC)


@dataclass
class Person:
    spec: Spec
    id: str  # the public id of the surviving profile
    merged_id: str  # the public id of the profile merged into it (same UnionID)
    customer: httpx.AsyncClient
    order_public_ids: list[str] = field(default_factory=list)
    coupon_ids: list[str] = field(default_factory=list)

    def canaries(self) -> list[str]:
        """Every personal value and identifier of the person, as text."""
        s = self.spec
        return [
            s.phone,
            s.e164,
            s.name,
            s.street,
            s.union_id,
            s.mini_open_id,
            s.official_open_id,
        ]

    def traces(self) -> list[str]:
        """Everything distinctive seeded for the person, ids included."""
        s = self.spec
        return [
            *self.canaries(),
            self.id,
            self.merged_id,
            *self.order_public_ids,
            *self.coupon_ids,
            *s.order_ids(),
            *s.coupon_titles(),
            *s.tags(),
            *s.event_ids(),
            *s.skus(),
        ]


UPDATE_PROFILE = """
mutation U($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id phone } }
"""
UPDATE_CONSENTS = """
mutation C($input: UpdateMyConsentsInput!) { updateMyConsents(input: $input) { id } }
"""
RECORD_ORDER = """
mutation O($input: RecordOrderInput!) { recordOrder(input: $input) { id totalFen } }
"""
EARN = "mutation E($input: EarnPointsInput!) { earnPoints(input: $input) { id balanceAfter } }"
SPEND = "mutation S($input: SpendPointsInput!) { spendPoints(input: $input) { id balanceAfter } }"
ISSUE = "mutation I($input: IssueCouponInput!) { issueCoupon(input: $input) { id status } }"
REDEEM = "mutation R($input: RedeemCouponInput!) { redeemCoupon(input: $input) { id status } }"
TAG = "mutation T($input: TagProfileInput!) { tagProfile(input: $input) { id } }"
CONTACT = "mutation K($input: RecordContactInput!) { recordContact(input: $input) { id } }"
EVENT = """
mutation V($input: RecordEventInput!) { recordEvent(input: $input) { status code } }
"""
EVENTS = """
mutation Vs($input: RecordEventsInput!) {
  recordEvents(input: $input) { index eventId status code }
}
"""
LINK_ID = """
mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }
"""


async def ok(client: httpx.AsyncClient, document: str, given: dict[str, Any]) -> Any:
    """Send a one-field mutation with `input`; its result, asserting there was no error."""
    body = await gql(client, document, {"input": given})
    assert "errors" not in body, body
    [value] = body["data"].values()
    return value


async def ok_query(client: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> Any:
    """Run a one-field document; its result, asserting there was no error."""
    body = await gql(client, document, variables)
    assert "errors" not in body, body
    [value] = body["data"].values()
    return value


def order_input(spec: Spec, profile_id: str, index: int) -> dict[str, Any]:
    tea, cup = spec.skus()
    return {
        "profileId": profile_id,
        "channel": ["MINI_PROGRAM", "WEB"][index],
        "externalId": spec.order_ids()[index],
        "status": ["PAID", "COMPLETED"][index],
        "items": [
            {"sku": tea, "name": "西湖龙井 250g", "quantity": 2 + index, "unitPriceFen": 1999},
            {"sku": cup, "name": "青瓷茶杯", "quantity": 1, "unitPriceFen": 5000},
        ],
        "discountFen": 1000,
        "shippingFen": 800,
        "paidAt": (NOW - timedelta(days=10 - index)).isoformat(),
        "entry": "from=article&id=123",
        "shippingAddress": spec.address,
    }


def event_input(spec: Spec, profile_id: str, index: int) -> dict[str, Any]:
    who: dict[str, Any] = [
        {"appId": MINI, "openId": spec.mini_open_id},
        {"appId": OFFICIAL, "openId": spec.official_open_id},
        {"profileId": profile_id},
    ][index]
    return {
        "eventId": spec.event_ids()[index],
        "type": ["article_read", "menu_click", "video_view"][index],
        "channel": ["MINI_PROGRAM", "OFFICIAL_ACCOUNT", "MINI_PROGRAM"][index],
        "occurredAt": (NOW - timedelta(hours=3 - index)).isoformat(),
        "entry": "from=menu&type=home",
        "properties": {"article": f"{spec.key}-article-{index}"},
        **who,
    }


async def seed(service: httpx.AsyncClient, client_for: ClientFactory, spec: Spec) -> Person:
    """A rich person, all through the API: two profiles merged by their UnionID (mini program
    and official account), personal fields, two orders with shipping addresses, points earned
    and spent, two coupons (one redeemed), two tags, consents, a contact and three events."""
    mini = await link(service, "MINI_PROGRAM", MINI, spec.mini_open_id)
    official = await link(
        service, "OFFICIAL_ACCOUNT", OFFICIAL, spec.official_open_id, spec.union_id
    )
    merged = await link(service, "MINI_PROGRAM", MINI, spec.mini_open_id, spec.union_id)
    assert merged["id"] == mini["id"] and len(merged["identities"]) == 2
    pid = mini["id"]
    customer = client_for(Role.CUSTOMER, subject=pid)
    person = Person(spec=spec, id=pid, merged_id=official["id"], customer=customer)
    await ok(
        customer,
        UPDATE_PROFILE,
        {"phone": spec.phone, "name": spec.name, "address": spec.address, "birthday": BIRTHDAY},
    )
    await ok(
        customer,
        UPDATE_CONSENTS,
        {
            "consents": [
                {"purpose": "MARKETING", "granted": True},
                {"purpose": "ANALYTICS", "granted": False, "channel": "SMS"},
            ],
            "noticeVersion": "2026-01",
            "sourceChannel": "MINI_PROGRAM",
        },
    )
    for index in range(2):
        order = await ok(service, RECORD_ORDER, order_input(spec, pid, index))
        person.order_public_ids.append(order["id"])
    await ok(service, EARN, {"profileId": pid, "points": 500, "idempotencyKey": f"{spec.key}-e1"})
    await ok(service, EARN, {"profileId": pid, "points": 300, "idempotencyKey": f"{spec.key}-e2"})
    await ok(service, SPEND, {"profileId": pid, "points": 120, "idempotencyKey": f"{spec.key}-s1"})
    for title in spec.coupon_titles():
        coupon = await ok(
            service,
            ISSUE,
            {"profileId": pid, "title": title, "discountFen": 2000, "idempotencyKey": title},
        )
        person.coupon_ids.append(coupon["id"])
    redeemed = await ok(service, REDEEM, {"couponId": person.coupon_ids[0], "channel": "WEB"})
    assert redeemed["status"] == "REDEEMED"
    for tag in spec.tags():
        await ok(service, TAG, {"profileId": pid, "tag": tag})
    await ok(
        service, CONTACT, {"profileId": pid, "purpose": "MARKETING", "channel": "MINI_PROGRAM"}
    )
    results = await ok(service, EVENTS, {"events": [event_input(spec, pid, i) for i in range(3)]})
    assert [r["status"] for r in results] == ["ACCEPTED"] * 3, results
    return person


@pytest.fixture
async def people(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> tuple[Person, Person]:
    """Anna, who will be erased, and a bystander who must stay untouched."""
    return (
        await seed(service_client, client_for, ANNA),
        await seed(service_client, client_for, BYSTANDER),
    )
