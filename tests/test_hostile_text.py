"""Hostile text: control characters, bidirectional overrides and lone surrogates are refused
in every free-text input, naming the field; what reaches a log line is sanitised; SQL in a
string is a string."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from cdp.auth import Role
from cdp.db import Database
from cdp.errors import CdpError
from cdp.logs import JsonFormatter
from cdp.orders.entry import parse_entry
from cdp.text import check_json_text, clean_key, clean_text, printable, text_fault
from tests.conftest import ClientFactory, gql
from tests.support.people import LINK, MINI

Vars = Callable[[str, str], dict[str, Any]]
HOSTILE = {
    "bidi-override": "ab\u202ecd",
    "escape": "compliance-officer-001\x1b[31mFAKE",
    "newline": "line one\nline two",
    "c1-control": "a\x85b",
}


def when() -> str:
    return datetime.now(UTC).isoformat()


# (role, document, variables from (profile id, hostile text), the field the error names)
CASES: dict[str, tuple[Role, str, Vars, str]] = {
    "tag": (
        Role.SERVICE,
        "mutation($input: TagProfileInput!) { tagProfile(input: $input) { id } }",
        lambda pid, bad: {"input": {"profileId": pid, "tag": bad}},
        "tag",
    ),
    "profilesByTag": (
        Role.SERVICE,
        "query($t: String!) { profilesByTag(tag: $t) { items { id } } }",
        lambda pid, bad: {"t": bad},
        "tag",
    ),
    "points-reason": (
        Role.SERVICE,
        "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { balanceAfter } }",
        lambda pid, bad: {
            "input": {"profileId": pid, "points": 5, "idempotencyKey": "k-1", "reason": bad}
        },
        "reason",
    ),
    "points-key": (
        Role.SERVICE,
        "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { balanceAfter } }",
        lambda pid, bad: {"input": {"profileId": pid, "points": 5, "idempotencyKey": bad}},
        "idempotencyKey",
    ),
    "coupon-title": (
        Role.SERVICE,
        "mutation($input: IssueCouponInput!) { issueCoupon(input: $input) { id } }",
        lambda pid, bad: {
            "input": {"profileId": pid, "title": bad, "discountFen": 100, "idempotencyKey": "c-1"}
        },
        "title",
    ),
    "order-sku": (
        Role.SERVICE,
        "mutation($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",
        lambda pid, bad: {"input": order(pid, sku=bad)},
        "items.0.sku",
    ),
    "order-item-name": (
        Role.SERVICE,
        "mutation($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",
        lambda pid, bad: {"input": order(pid, name=bad)},
        "items.0.name",
    ),
    "order-entry": (
        Role.SERVICE,
        "mutation($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",
        lambda pid, bad: {"input": {**order(pid), "entry": f"from={bad}"}},
        "entry",
    ),
    "order-street": (
        Role.SERVICE,
        "mutation($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",
        lambda pid, bad: {"input": {**order(pid), "shippingAddress": {"street": bad}}},
        "shippingAddress.street",
    ),
    "event-properties": (
        Role.SERVICE,
        "mutation($input: RecordEventInput!) { recordEvent(input: $input) { status field } }",
        lambda pid, bad: {"input": event(pid, properties={"title": bad})},
        "properties",
    ),
    "event-app-id": (
        Role.SERVICE,
        "mutation($input: RecordEventInput!) { recordEvent(input: $input) { status field } }",
        lambda pid, bad: {"input": {**event(pid), "appId": bad}},
        "appId",
    ),
    "contact-key": (
        Role.SERVICE,
        "mutation($input: RecordContactInput!) { recordContact(input: $input) { __typename } }",
        lambda pid, bad: {
            "input": {
                "profileId": pid,
                "purpose": "ACTIVITY_NOTIFICATIONS",
                "channel": "SMS",
                "idempotencyKey": bad,
            }
        },
        "idempotencyKey",
    ),
    "purpose": (
        Role.SUPPORT,
        "query($id: ID!, $p: String!) { profile(id: $id, purpose: $p) { id } }",
        lambda pid, bad: {"id": pid, "p": bad},
        "purpose",
    ),
    "export-purpose": (
        Role.COMPLIANCE,
        "mutation($input: ExportProfileInput!) { exportProfile(input: $input) { document } }",
        lambda pid, bad: {"input": {"profileId": pid, "purpose": bad}},
        "purpose",
    ),
    "erasure-reason": (
        Role.COMPLIANCE,
        "mutation($input: RequestErasureInput!) { requestErasure(input: $input) { id } }",
        lambda pid, bad: {"input": {"profileId": pid, "mode": "DELETE", "reason": bad}},
        "reason",
    ),
    "audit-actor": (
        Role.COMPLIANCE,
        "query($a: String!) { auditEvents(actor: $a) { items { seq } } }",
        lambda pid, bad: {"a": bad},
        "actor",
    ),
    "name": (
        Role.CUSTOMER,
        "mutation($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }",
        lambda pid, bad: {"input": {"name": bad}},
        "name",
    ),
    "address-street": (
        Role.CUSTOMER,
        "mutation($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }",
        lambda pid, bad: {"input": {"address": {"province": "浙江省", "street": bad}}},
        "address.street",
    ),
    "phone": (
        Role.CUSTOMER,
        "mutation($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }",
        lambda pid, bad: {"input": {"phone": bad}},
        "phone",
    ),
    "notice-version": (
        Role.CUSTOMER,
        "mutation($input: UpdateMyConsentsInput!) { updateMyConsents(input: $input) { id } }",
        lambda pid, bad: {
            "input": {"consents": [{"purpose": "MARKETING", "granted": True}], "noticeVersion": bad}
        },
        "noticeVersion",
    ),
}


def order(pid: str, *, sku: str = "LATTE-L", name: str = "拿铁") -> dict[str, Any]:
    return {
        "profileId": pid,
        "channel": "MINI_PROGRAM",
        "externalId": "ext-1",
        "status": "PAID",
        "items": [{"sku": sku, "name": name, "quantity": 1, "unitPriceFen": 100}],
    }


def event(pid: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "eventId": "ev-1",
        "type": "article_read",
        "channel": "MINI_PROGRAM",
        "occurredAt": when(),
        "profileId": pid,
        "properties": properties,
    }


async def a_profile(client_for: ClientFactory) -> str:
    body = await gql(
        client_for(Role.SERVICE),
        LINK,
        {"input": {"channel": "MINI_PROGRAM", "appId": MINI, "openId": "oHostileText000000001"}},
    )
    return str(body["data"]["linkIdentity"]["id"])


def refusal_field(body: dict[str, Any]) -> str:
    """The field named by the one BAD_USER_INPUT, as an error or as an event's result."""
    data = body.get("data") or {}
    if data.get("recordEvent") is not None:
        result = data["recordEvent"]
        assert result["status"] == "REJECTED", body
        return str(result["field"])
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    return str(error["extensions"]["field"])


@pytest.mark.parametrize("hostile", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_every_free_text_input_refuses_control_and_bidi_characters_naming_the_field(
    client_for: ClientFactory, database: Database, case: str, hostile: str
) -> None:
    role, document, variables, field = CASES[case]
    if field == "properties" and hostile == HOSTILE["newline"]:
        pytest.skip("a newline is text inside event properties (multi-line values)")
    pid = await a_profile(client_for)
    client = client_for(role, subject=pid if role is Role.CUSTOMER else None)
    response = await client.post(
        "/graphql", json={"query": document, "variables": variables(pid, hostile)}
    )
    assert response.status_code in (200, 400), response.text
    assert refusal_field(response.json()) == field
    async with database.transaction() as session:
        stored = (await session.execute(sa.text("SELECT * FROM audit_events"))).all()
    assert hostile not in json.dumps([tuple(map(str, row)) for row in stored])


async def test_a_newline_in_event_properties_is_kept(
    client_for: ClientFactory, database: Database
) -> None:
    pid = await a_profile(client_for)
    body = await gql(
        client_for(Role.SERVICE),
        CASES["event-properties"][1],
        {"input": event(pid, properties={"excerpt": "第一行\n第二行\t!"})},
    )
    assert body["data"]["recordEvent"]["status"] == "ACCEPTED", body


@pytest.mark.parametrize(
    "injection",
    [
        "' OR '1'='1",
        "'; DROP TABLE profiles; --",
        '" OR ""="',
        "1; SELECT pg_sleep(5)",
        "x' UNION SELECT public_id FROM profiles --",
    ],
)
async def test_sql_in_a_string_argument_is_just_a_string(
    client_for: ClientFactory, database: Database, injection: str
) -> None:
    pid = await a_profile(client_for)
    service = client_for(Role.SERVICE)
    found = await gql(service, CASES["profilesByTag"][1], {"t": injection})
    assert found["data"]["profilesByTag"]["items"] == []
    tagged = await gql(service, CASES["tag"][1], {"input": {"profileId": pid, "tag": injection}})
    assert "errors" not in tagged, tagged
    support = client_for(Role.SUPPORT)
    looked_up = await gql(
        support,
        "query($p: String!) { profile(openId: $p, appId: $p, purpose: $p) { id } }",
        {"p": injection},
    )
    assert [e["extensions"]["code"] for e in looked_up.get("errors", [])] in (
        [],
        ["BAD_USER_INPUT"],
    )
    assert looked_up["data"]["profile"] is None
    async with database.transaction() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM profiles"))).scalar() == 1


async def test_full_width_digits_in_a_phone_are_the_same_number(
    client_for: ClientFactory,
) -> None:
    pid = await a_profile(client_for)
    customer = client_for(Role.CUSTOMER, subject=pid)
    update = CASES["phone"][1]
    body = await gql(customer, update, {"input": {"phone": "１３８１２３４５６７８"}})
    assert "errors" not in body, body
    support = client_for(Role.SUPPORT)
    found = await gql(support, '{ profile(phone: "13812345678", purpose: "t") { id } }')
    assert found["data"]["profile"]["id"] == pid


# --- log lines -----------------------------------------------------------------------------


def request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(r) for r in caplog.records if r.name == "cdp.request"]


async def test_what_the_client_chooses_never_reaches_a_log_line_raw(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.request")
    service = client_for(Role.SERVICE)
    await service.post("/graphql%1b[31m%e2%80%ae/x", json={"query": "{ __typename }"})
    await service.post(
        "/graphql",
        json={"query": "query A { __typename }", "operationName": 'A\n{"forged": 1}\u202e'},
        headers={"x-request-id": "id\x1b[2J"},
    )
    lines = request_lines(caplog)
    assert len(lines) == 2
    for line in lines:
        assert "\x1b" not in line and "\u202e" not in line and "\n" not in line
        assert "\\u001b" not in line and "\\u202e" not in line  # not even escaped: replaced
        assert "forged" not in line
    assert json.loads(lines[0])["path"] == "/graphql?[31m?/x"
    assert json.loads(lines[1])["operation"] is None


def test_the_log_formatter_escapes_bidi_controls_and_lone_surrogates() -> None:
    record = logging.makeLogRecord({"msg": "m", "where": "a\u202eb\ud800c\x85d\u2028e"})
    line = JsonFormatter().format(record)
    assert not any(ch in line for ch in "\u202e\ud800\x85\u2028")
    assert json.loads(line)["where"] == "a\u202eb\ud800c\x85d\u2028e"
    line.encode("utf-8")  # writable: no lone surrogate left


# --- the validator itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [*HOSTILE.values(), "\ud800", "a\u202ab", "a\u2066b", "a\u2069", "\x7f", "a\x00"]
)
def test_text_fault_finds_every_refused_character(text: str) -> None:
    assert text_fault(text) is not None


@pytest.mark.parametrize(
    "text", ["张三", "Zoë", "工单 #1024 退款咨询", "😀", "a\u200db", "O'Brien"]
)
def test_ordinary_text_passes(text: str) -> None:
    assert text_fault(text) is None
    assert clean_text(f"  {text}  ", field="name", max_length=64) == text


def test_line_breaks_are_text_only_where_a_field_is_multi_line() -> None:
    assert text_fault("a\nb\tc\r", multiline=True) is None
    assert text_fault("a\x1bb", multiline=True) is not None
    assert text_fault("a\nb") is not None
    check_json_text({"k": ["line\nline"]}, field="properties")
    with pytest.raises(CdpError) as refused:
        check_json_text({"k\n": 1}, field="properties")
    assert refused.value.field == "properties"


def test_clean_text_and_clean_key_name_the_field() -> None:
    with pytest.raises(CdpError) as refused:
        clean_text("a\u202eb", field="title", max_length=10)
    assert (refused.value.code.value, refused.value.field) == ("BAD_USER_INPUT", "title")
    with pytest.raises(CdpError):
        clean_text("x" * 11, field="title", max_length=10)
    with pytest.raises(CdpError):
        clean_key("cdp:internal")
    assert clean_key(" order-1 ") == "order-1"


def test_printable_replaces_what_a_log_must_not_hold() -> None:
    assert printable("/a\x1b[1m\u202e\ud800b") == "/a?[1m??b"
    assert len(printable("x" * 1000)) == 200


@pytest.mark.parametrize("encoded", ["%0A", "%7F", "%C2%85", "%E2%80%AE", "%E2%81%A6"])
def test_an_entry_parameter_that_decodes_to_a_control_or_bidi_character_is_refused(
    encoded: str,
) -> None:
    with pytest.raises(CdpError) as refused:
        parse_entry(f"from=article&id=12{encoded}3")
    assert (refused.value.code.value, refused.value.field) == ("BAD_USER_INPUT", "entry")
