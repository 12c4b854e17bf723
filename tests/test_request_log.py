"""One JSON log line per request, naming who and what but never a personal value."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cdp.auth import Role
from cdp.logs import JsonFormatter, quiet_drivers
from tests.conftest import ClientFactory, gql

CANARY_PHONE = "13912345678"
CANARY_OPEN_ID = "oCanaryLogOpenId00000000001"
LINK = """mutation LinkPerson($input: LinkIdentityInput!) {
  linkIdentity(input: $input) { id }
}"""


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The request log lines as `cdp serve` prints them (JSON)."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "cdp.request"
    ]


async def test_each_request_logs_one_json_line_with_id_role_operation_status_and_duration(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.request")
    service = client_for(Role.SERVICE)
    variables = {"input": {"channel": "WEB", "appId": "web-main", "openId": CANARY_OPEN_ID}}
    response = await service.post(
        "/graphql",
        json={"query": LINK, "variables": variables},
        headers={"x-request-id": "req-log-1"},
    )
    assert response.status_code == 200

    [line] = request_lines(caplog)
    assert line["event"] == "request"
    assert line["request_id"] == "req-log-1" == response.headers["x-request-id"]
    assert line["role"] == "service"
    assert line["operation"] == "LinkPerson"
    assert line["status"] == 200
    assert line["method"] == "POST" and line["path"] == "/graphql"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0


async def test_an_explicit_operation_name_is_the_one_logged(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.request")
    document = "query First { __typename } query Second { __typename }"
    response = await client_for(Role.ANALYST).post(
        "/graphql", json={"query": document, "operationName": "Second"}
    )
    assert response.status_code == 200
    assert [line["operation"] for line in request_lines(caplog)] == ["Second"]


async def test_refused_requests_are_logged_with_their_status_and_no_role(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.request")
    anonymous = client_for(None)
    assert (await anonymous.post("/graphql", json={"query": "{ me { id } }"})).status_code == 401
    assert (await anonymous.get("/healthz")).status_code == 200
    lines = request_lines(caplog)
    assert [(line["path"], line["status"], line["role"]) for line in lines] == [
        ("/graphql", 401, None),
        ("/healthz", 200, None),
    ]
    assert lines[0]["request_id"] != lines[1]["request_id"]


async def test_request_lines_carry_no_personal_values_or_query_text(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_drivers()  # as `cdp serve` configures logging; everything else at DEBUG
    caplog.set_level(logging.DEBUG)
    service = client_for(Role.SERVICE)
    link = {"input": {"channel": "WEB", "appId": "web-main", "openId": CANARY_OPEN_ID}}
    profile_id = (await gql(service, LINK, link))["data"]["linkIdentity"]["id"]
    customer = client_for(Role.CUSTOMER, subject=profile_id)
    update = "mutation Update($p: String) { updateMyProfile(input: {phone: $p}) { phone } }"
    await gql(customer, update, {"p": CANARY_PHONE})
    await gql(customer, update, {"p": "not a phone " + CANARY_PHONE})
    support = client_for(Role.SUPPORT)
    await gql(support, f'{{ profile(phone: "{CANARY_PHONE}", purpose: "ticket") {{ phone }} }}')
    await service.post("/graphql?phone=" + CANARY_PHONE, json={"query": "{ __typename }"})

    lines = request_lines(caplog)
    assert len(lines) == 5
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for canary in (CANARY_PHONE, CANARY_OPEN_ID, "updateMyProfile", "ticket"):
        assert canary not in text, f"{canary!r} reached the log"


async def test_a_body_too_large_is_logged_as_a_413(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cdp.request")
    response = await client_for(Role.SERVICE).post(
        "/graphql",
        content=b'{"query": "{ __typename }", "pad": "' + b"x" * 70_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert [line["status"] for line in request_lines(caplog)] == [413]


def test_log_lines_are_one_json_object_per_line() -> None:
    record = logging.makeLogRecord(
        {"name": "cdp.request", "msg": "request", "levelno": 20, "levelname": "INFO"}
    )
    record.__dict__.update(request_id="r1", role="customer", status=200, note="多行\n文本")
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["note"] == "多行\n文本"


async def test_the_log_middleware_passes_responses_through_unchanged(
    client_for: ClientFactory,
) -> None:
    response = await client_for(Role.SERVICE).post("/graphql", json={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}
    assert int(response.headers["content-length"]) == len(response.content)
