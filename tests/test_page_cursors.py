"""Page cursors are signed: every paginated field refuses a forged, truncated, foreign or
re-signed cursor with BAD_USER_INPUT (never INTERNAL, never an "unexpected error" log line),
and a cursor it issued still pages (both databases)."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from cdp.auth import Role
from cdp.crypto import Keyring
from cdp.graphql.pages import sign_cursor
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.people import MINI, link

PAGE = "pageInfo { endCursor hasNextPage }"


@dataclass(frozen=True)
class Field:
    kind: str  # what the field's cursors name
    role: Role
    query: str
    path: tuple[str, ...]  # from `data` to the page
    arity: int = 1


FIELDS = {
    "points": Field(
        "points",
        Role.CUSTOMER,
        f"query Q($after: String) {{ me {{ points {{ history(first: 1, after: $after) "
        f"{{ items {{ id }} {PAGE} }} }} }} }}",
        ("me", "points", "history"),
    ),
    "coupons": Field(
        "coupons",
        Role.CUSTOMER,
        f"query Q($after: String) {{ me {{ coupons(first: 1, after: $after) "
        f"{{ items {{ id }} {PAGE} }} }} }}",
        ("me", "coupons"),
    ),
    "orders": Field(
        "orders",
        Role.CUSTOMER,
        f"query Q($after: String) {{ me {{ orders(first: 1, after: $after) "
        f"{{ items {{ id }} {PAGE} }} }} }}",
        ("me", "orders"),
        arity=2,
    ),
    "tags": Field(
        "tags",
        Role.CUSTOMER,
        f"query Q($after: String) {{ me {{ tags(first: 1, after: $after) "
        f"{{ items {{ name }} {PAGE} }} }} }}",
        ("me", "tags"),
    ),
    "consents": Field(
        "consents",
        Role.CUSTOMER,
        f"query Q($after: String) {{ me {{ consents {{ history(first: 1, after: $after) "
        f"{{ items {{ purpose changedAt }} {PAGE} }} }} }} }}",
        ("me", "consents", "history"),
    ),
    "profilesByTag": Field(
        "by-tag",
        Role.SERVICE,
        f'query Q($after: String) {{ profilesByTag(tag: "cursor-walk", first: 1, after: $after) '
        f"{{ items {{ id }} {PAGE} }} }}",
        ("profilesByTag",),
    ),
    "erasureRequests": Field(
        "erasures",
        Role.COMPLIANCE,
        f"query Q($after: String) {{ erasureRequests(first: 1, after: $after) "
        f"{{ items {{ id }} {PAGE} }} }}",
        ("erasureRequests",),
    ),
    "auditEvents": Field(
        "audit",
        Role.COMPLIANCE,
        f"query Q($after: String) {{ auditEvents(first: 1, after: $after) "
        f"{{ items {{ seq }} {PAGE} }} }}",
        ("auditEvents",),
    ),
}


async def ok(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, query, variables)
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def seed(client_for: ClientFactory) -> str:
    """Two of everything every paginated field lists; returns the customer's profile id."""
    service = client_for(Role.SERVICE)
    person = str((await link(service, "MINI_PROGRAM", MINI, "oCursorPerson0000000000001"))["id"])
    other = str((await link(service, "MINI_PROGRAM", MINI, "oCursorPerson0000000000002"))["id"])
    for n in (1, 2):
        await ok(
            service,
            "mutation M($input: EarnPointsInput!) { earnPoints(input: $input) { id } }",
            {"input": {"profileId": person, "points": 10 * n, "idempotencyKey": f"cur-{n}"}},
        )
        await ok(
            service,
            "mutation M($input: IssueCouponInput!) { issueCoupon(input: $input) { id } }",
            {
                "input": {
                    "profileId": person,
                    "title": f"coupon {n}",
                    "discountFen": 100,
                    "idempotencyKey": f"cur-coupon-{n}",
                }
            },
        )
        paid_at = datetime.now(UTC) - timedelta(days=n)
        await ok(
            service,
            "mutation M($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",
            {
                "input": {
                    "profileId": person,
                    "channel": "MINI_PROGRAM",
                    "externalId": f"cursor-order-{n}",
                    "status": "PAID",
                    "items": [{"sku": "S", "name": "商品", "quantity": 1, "unitPriceFen": 500}],
                    "paidAt": paid_at.isoformat(),
                }
            },
        )
        for profile_id in (person, other):
            await ok(
                service,
                "mutation M($input: TagProfileInput!) { tagProfile(input: $input) { id } }",
                {"input": {"profileId": profile_id, "tag": "cursor-walk" if n == 1 else "t2"}},
            )
    customer = client_for(Role.CUSTOMER, subject=person)
    for granted in (True, False):
        await ok(
            customer,
            "mutation M($input: UpdateMyConsentsInput!) { updateMyConsents(input: $input) { id } }",
            {"input": {"consents": [{"purpose": "MARKETING", "granted": granted}]}},
        )
    compliance = client_for(Role.COMPLIANCE)
    for profile_id in (person, other):
        await ok(
            compliance,
            "mutation M($input: RequestErasureInput!) { requestErasure(input: $input) { id } }",
            {"input": {"profileId": profile_id, "mode": "DELETE", "reason": "ticket 1"}},
        )
    return person


def page_of(data: dict[str, Any], field: Field) -> dict[str, Any]:
    for name in field.path:
        data = data[name]
    return data


def unsigned(value: Any) -> str:
    """A cursor as they were before signing: base64 of JSON (or of text), and no tag."""
    raw = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def hostile_cursors(field: Field, real: str) -> dict[str, str]:
    position: list[Any] = [datetime.now(UTC), 1] if field.arity == 2 else [1]
    other_kind = "coupons" if field.kind == "points" else "points"
    attacker = Keyring.generate(development=True)
    signed_wrong = cast(Any, sign_cursor)  # values of the wrong type, signed with the real key
    return {
        # The issue's examples: they used to answer INTERNAL.
        "forged text": unsigned([field.kind, "abc"]),
        "forged huge float": unsigned([field.kind, 1e30]),
        "forged audit-style": unsigned("audit:" + "9" * 40),
        "forged as issued before": unsigned([field.kind, *([1] * field.arity)]),
        "truncated": real[:-3],
        "one character changed": real[:-1] + ("A" if real[-1] != "A" else "B"),
        "from another field": sign_cursor(TEST_KEYRING, other_kind, *position),
        "re-signed by an attacker": sign_cursor(attacker, field.kind, *position),
        "wrong arity": sign_cursor(TEST_KEYRING, field.kind, *position, 7),
        "signed text position": signed_wrong(TEST_KEYRING, field.kind, *(["abc"] * field.arity)),
        "signed huge position": signed_wrong(TEST_KEYRING, field.kind, *([10**30] * field.arity)),
        "signed negative position": signed_wrong(TEST_KEYRING, field.kind, *([-1] * field.arity)),
        "signed float position": signed_wrong(TEST_KEYRING, field.kind, *([1e30] * field.arity)),
        "not base64": "!!not a cursor!!",
        "empty": "",
        "very long": "A" * 5000,
    }


@pytest.mark.parametrize("name", list(FIELDS))
async def test_every_paginated_field_refuses_a_cursor_it_did_not_issue_as_bad_user_input(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    field = FIELDS[name]
    person = await seed(client_for)
    client = client_for(field.role, subject=person if field.role is Role.CUSTOMER else None)
    real = page_of(await ok(client, field.query, {"after": None}), field)["pageInfo"]["endCursor"]
    assert real

    caplog.set_level(logging.INFO, logger="cdp.errors")
    for what, cursor in hostile_cursors(field, real).items():
        body = await gql(client, field.query, {"after": cursor})
        errors = body.get("errors", [])
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], (what, body)
        assert errors[0]["extensions"]["field"] == "after", (what, body)
    assert not [r for r in caplog.records if r.name == "cdp.errors"], caplog.text


@pytest.mark.parametrize("name", list(FIELDS))
async def test_a_cursor_a_field_issued_pages_on_to_the_next_item(
    client_for: ClientFactory, name: str
) -> None:
    field = FIELDS[name]
    person = await seed(client_for)
    client = client_for(field.role, subject=person if field.role is Role.CUSTOMER else None)
    first = page_of(await ok(client, field.query, {"after": None}), field)
    assert first["pageInfo"]["hasNextPage"] is True and len(first["items"]) == 1
    second = page_of(
        await ok(client, field.query, {"after": first["pageInfo"]["endCursor"]}), field
    )
    assert len(second["items"]) == 1 and second["items"] != first["items"]
    # The cursor names the list that issued it (that is what another list refuses).
    cursor = first["pageInfo"]["endCursor"]
    payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))[:-16]
    assert json.loads(payload)[0] == field.kind
