"""The people the serving benchmarks use, made through cdp's own mutations (in process), and
the documents the load sends: `me`, the support lookup by phone, recordOrder, recordEvents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource

ME = """query Me { me {
  id tier unionId phone name birthday createdAt
  address { province city district street }
  identities { channel appId openId linkedAt }
  points { balance history(first: 10) {
    items { id kind points balanceAfter reason channel createdAt expiresAt }
    pageInfo { hasNextPage endCursor } } }
  coupons(first: 5) {
    items { id title kind discountFen percentOff minSpendFen channels validFrom validUntil
            status issuedAt redeemedAt }
    pageInfo { hasNextPage endCursor } }
  orders(first: 20) {
    items { id channel externalId status itemsFen discountFen shippingFen totalFen entryFrom
            entryParams paidAt items { sku name quantity unitPriceFen amountFen }
            shippingAddress { province city district street } }
    pageInfo { hasNextPage endCursor } }
  tags { items { name source taggedAt } }
  consents { current { purpose channel granted explicit noticeVersion sourceChannel updatedAt } }
} }"""
LOOKUP = 'query { profile(phone: "@PICK@", purpose: "bench: caller asks about an order") { id tier phone name } }'  # noqa: E501
RECORD_ORDER = (
    'mutation { recordOrder(input: {profileId: "@PICK@", channel: MINI_PROGRAM, '
    'externalId: "bench-@N@", status: PAID, entry: "from=article&id=42", '
    'items: [{sku: "TEA-1", name: "乌龙茶", quantity: 2, unitPriceFen: 3900}], '
    'shippingAddress: {province: "浙江省", city: "杭州市", district: "西湖区", '
    'street: "文三路1号"}}) '
    "{ id totalFen } }"
)
EVENTS_PER_CALL = 50


def record_events_body(count: int = EVENTS_PER_CALL) -> str:
    """recordEvents of `count` events for one person (`@PICK@`), ids unique per run; the
    events travel as variables, as an ingest client sends them."""
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    events = [
        {
            "eventId": f"bench-@N@-{i}",
            "type": "page_view",
            "channel": "MINI_PROGRAM",
            "occurredAt": at,
            "profileId": "@PICK@",
            "entry": "from=menu",
            "properties": {"page": "home", "position": i},
        }
        for i in range(count)
    ]
    query = "mutation Ingest($input: RecordEventsInput!) { recordEvents(input: $input) { status } }"
    return json.dumps({"query": query, "variables": {"input": {"events": events}}})


def body(query: str) -> str:
    return json.dumps({"query": query}, ensure_ascii=False)


class Client:
    """cdp's GraphQL in process, as one role; every answer must be free of errors."""

    def __init__(self, app: Any, token: str) -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"authorization": f"Bearer {token}"},
        )

    async def ask(self, query: str) -> dict[str, Any]:
        answer = (await self.http.post("/graphql", json={"query": query})).json()
        assert "errors" not in answer, answer
        return answer["data"]  # type: ignore[no-any-return]


async def seed_customer(
    settings: Settings, database: Database, keyring: KeyringSource, n: int = 0
) -> str:
    """A member with 20 orders, 5 coupons, 10 ledger entries, 5 tags and a choice for every
    consent purpose and channel, every personal field set; their public id."""
    app = create_app(settings, database, keyring)
    service = Client(app, issue_token(settings, role=Role.SERVICE, subject="bench-seed"))
    linked = await service.ask(
        f'mutation {{ linkIdentity(input: {{channel: MINI_PROGRAM, appId: "wxbenchmini0000001", '
        f'openId: "oBenchMini{n:018d}", unionId: "oBenchUnion{n:017d}"}}) {{ id }} }}'
    )
    public_id = linked["linkIdentity"]["id"]
    await service.ask(
        "mutation { linkIdentity(input: {channel: OFFICIAL_ACCOUNT, "
        f'appId: "wxbenchoa000000001", '
        f'openId: "oBenchOffi{n:018d}", unionId: "oBenchUnion{n:017d}"}}) {{ id }} }}'
    )
    customer = Client(app, issue_token(settings, role=Role.CUSTOMER, subject=public_id))
    await customer.ask(
        'mutation { updateMyProfile(input: {phone: "13800138000", name: "王小明", '
        'birthday: "1990-05-17", address: {province: "上海市", city: "上海市", '
        'district: "徐汇区", street: "漕溪北路88号"}}) { id } }'
    )
    choices = ", ".join(
        f"{{purpose: {p}, channel: {c}, granted: {'true' if (i + j) % 2 else 'false'}}}"
        for i, p in enumerate(
            ("MARKETING", "ACTIVITY_NOTIFICATIONS", "PERSONALIZATION", "ANALYTICS")
        )
        for j, c in enumerate(("MINI_PROGRAM", "OFFICIAL_ACCOUNT", "CHANNELS", "WEB", "SMS"))
    )
    await customer.ask(
        f'mutation {{ updateMyConsents(input: {{consents: [{choices}], noticeVersion: "2026-01"}}) '
        "{ id } }"
    )
    for i in range(20):
        await service.ask(RECORD_ORDER.replace("@PICK@", public_id).replace("@N@", f"seed-{n}-{i}"))
    for i in range(10):
        await service.ask(
            f'mutation {{ earnPoints(input: {{profileId: "{public_id}", points: {100 + i}, '
            f'idempotencyKey: "bench-{n}-{i}", reason: "order", channel: MINI_PROGRAM}}) '
            "{ id } }"
        )
    for i in range(5):
        await service.ask(
            f'mutation {{ issueCoupon(input: {{profileId: "{public_id}", title: "满100减{i + 5}", '
            f'discountFen: {500 + i * 100}, minSpendFen: 10000, idempotencyKey: "bench-{n}-{i}"}}) '
            "{ id } }"
        )
    for tag in ("tea-lover", "vip-candidate", "hangzhou", "weekend-buyer", "newsletter"):
        await service.ask(
            f'mutation {{ tagProfile(input: {{profileId: "{public_id}", tag: "{tag}"}}) {{ id }} }}'
        )
    await service.http.aclose()
    await customer.http.aclose()
    return str(public_id)
