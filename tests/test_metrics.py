"""Metrics and the request log's outcome: /metrics answers only its bearer token; requests are
counted by route, operation and outcome (the error code), refusals and pool use are measured,
and nothing a client chose or a person is ever becomes a label (both databases)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Environment, Settings
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.logs import JsonFormatter
from cdp.outbox.queue import Outgoing, enqueue
from tests.conftest import TEST_KEYRING, audited, make_settings

TOKEN = "metrics-7Qm2vX9pLr4TzK8wNc3Hs6Yb1Jd5Fg0A"
CANARY_PHONE = "13912345678"


@pytest.fixture
async def app_with_metrics(database_url: str) -> AsyncIterator[tuple[Settings, Any]]:
    settings = make_settings(database_url, metrics_token=TOKEN, rate_limit_per_minute=3)
    database, store = Database(settings), KeyStore(settings)
    try:
        yield settings, create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), store)
    finally:
        await database.dispose()
        await store.dispose()


def client(app: Any, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdp.test", headers=headers
    )


async def scrape(app: Any) -> str:
    async with client(app, authorization=f"Bearer {TOKEN}") as scraper:
        response = await scraper.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample of `name` with exactly these labels (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.index("}") + 1]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_are_not_served_without_the_bearer_token(
    app_with_metrics: tuple[Settings, Any], database_url: str, keystore: KeyStore
) -> None:
    _, app = app_with_metrics
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        async with client(app, **headers) as anyone:
            response = await anyone.get("/metrics")
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # With no token configured there is no /metrics at all, even for a staff token.
    plain = make_settings(database_url)
    database = Database(plain)
    try:
        bare = create_app(plain, database, KeyringSource.fixed(TEST_KEYRING), keystore)
        staff = issue_token(plain, role=Role.COMPLIANCE, subject="c-1")
        async with client(bare, authorization=f"Bearer {staff}") as officer:
            assert (await officer.get("/metrics")).status_code == 404
    finally:
        await database.dispose()


async def test_requests_are_counted_by_route_operation_and_error_code(
    app_with_metrics: tuple[Settings, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings, app = app_with_metrics
    caplog.set_level(logging.INFO, logger="cdp.request")
    before = await scrape(app)
    analyst = issue_token(settings, role=Role.ANALYST, subject="analyst-metrics")
    async with client(app, authorization=f"Bearer {analyst}") as staff:
        refused = await staff.post("/graphql", json={"query": "query Mine { me { id } }"})
        fine = await staff.post("/graphql", json={"query": "{ __typename }"})
    assert refused.status_code == 200 and refused.json()["errors"]
    assert fine.status_code == 200 and "errors" not in fine.json()
    after = await scrape(app)
    labels = {"route": "/graphql", "operation": "query:me", "outcome": "FORBIDDEN"}
    assert value(after, "cdp_http_requests_total", **labels) == (
        value(before, "cdp_http_requests_total", **labels) + 1
    )
    assert value(after, "cdp_response_errors_total", code="FORBIDDEN") >= 1
    assert (
        value(
            after, "cdp_http_request_duration_seconds_count", route="/graphql", operation="query:me"
        )
        >= 1
    )
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "cdp.request"
    ]
    graphql = [line for line in lines if line["path"] == "/graphql"]
    assert graphql[0]["status"] == 200 and graphql[0]["error_codes"] == ["FORBIDDEN"]
    assert graphql[1]["error_codes"] is None


async def test_what_a_client_names_never_becomes_a_label(
    app_with_metrics: tuple[Settings, Any],
) -> None:
    settings, app = app_with_metrics
    support = issue_token(settings, role=Role.SUPPORT, subject="support-metrics")
    document = (
        f"query Phone{CANARY_PHONE} {{ p{CANARY_PHONE}: __typename "
        f"profileBy{CANARY_PHONE}(x: 1) {{ id }} }}"
    )
    async with client(app, authorization=f"Bearer {support}") as staff:
        response = await staff.post("/graphql", json={"query": document})
        await staff.get(f"/no/such/{CANARY_PHONE}")
    assert response.json()["errors"]
    text = await scrape(app)
    assert CANARY_PHONE not in text
    assert "support-metrics" not in text
    assert (
        value(
            text, "cdp_http_requests_total", route="unmatched", operation="-", outcome="NOT_FOUND"
        )
        >= 1
    )


async def test_spent_rate_budgets_are_counted_by_budget(
    app_with_metrics: tuple[Settings, Any],
) -> None:
    settings, app = app_with_metrics
    before = value(await scrape(app), "cdp_rate_limit_refusals_total", budget="graphql")
    token = issue_token(settings, role=Role.ANALYST, subject="analyst-flood")
    async with client(app, authorization=f"Bearer {token}") as flood:
        statuses = [
            (await flood.post("/graphql", json={"query": "{ __typename }"})).status_code
            for _ in range(5)
        ]
    assert statuses.count(429) == 2
    text = await scrape(app)
    assert value(text, "cdp_rate_limit_refusals_total", budget="graphql") == before + 2
    # Refused before the document is read: no operation.
    refusals = {"route": "/graphql", "operation": "-", "outcome": "QUERY_TOO_COMPLEX"}
    assert value(text, "cdp_http_requests_total", **refusals) >= 2


async def test_the_pool_and_the_audit_sealing_lag_are_gauges(
    app_with_metrics: tuple[Settings, Any],
) -> None:
    _, app = app_with_metrics
    text = await scrape(app)
    assert re.search(r'^cdp_db_pool_connections\{state="in_use"\} \d', text, re.M)
    assert re.search(r'^cdp_db_pool_connections\{state="idle"\} \d', text, re.M)
    assert re.search(r"^cdp_audit_sealing_lag_seconds \d", text, re.M)
    assert value(text, "cdp_outbox_messages", state="PENDING") == 0
    assert re.search(r"^cdp_outbox_oldest_due_seconds 0", text, re.M)


@pytest.mark.parametrize("token", ["short", "a" * 40])
def test_a_weak_metrics_token_is_refused_at_start(token: str) -> None:
    with pytest.raises(ValidationError, match="CDP_METRICS_TOKEN"):
        Settings(env=Environment.DEVELOPMENT, metrics_token=token)  # type: ignore[arg-type]


async def test_the_outbox_depth_and_the_wait_of_its_oldest_due_row_are_gauges(
    app_with_metrics: tuple[Settings, Any],
) -> None:
    settings, app = app_with_metrics
    database = Database(settings)
    try:
        async with audited(database) as session:
            await enqueue(
                session=session,
                messages=[Outgoing(kind="webhook", key="metrics-1")],
                now=utcnow() - timedelta(seconds=30),
            )
    finally:
        await database.dispose()
    text = await scrape(app)
    assert value(text, "cdp_outbox_messages", state="PENDING") == 1
    waited = re.search(r"^cdp_outbox_oldest_due_seconds (\S+)", text, re.M)
    assert waited is not None and 25 <= float(waited.group(1)) < 600
