"""Refusals of trusted documents: in production the console's session runs the console's
trusted documents only, whatever its role, while a bearer token keeps document text where the
settings allow; an unknown id, a role a document is not registered for and text refused are
each audited (the id or the text's hash, the reason, the credential: never the text or a
variable) and counted, and a principal spraying ids fills the log with a bounded number of
records, the last saying that the rest were counted only."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.documents.registry import document_id
from cdp.graphql.trusted import AUDITED_REFUSALS_PER_MINUTE
from cdp.keys.store import KeyStore
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.service_accounts import create_account
from cdp.staff.web import session_cookie_name
from tests.conftest import audited, make_settings
from tests.support.console_documents import console_id
from tests.support.staff_desk import app_client, open_staff_session, records_of

AUDIT_TEXT = "{ auditLogVerification { intact } }"
PHONE = "13912345678"  # a variable's value: never in a record
UNKNOWN = "sha256:" + "ab" * 32


@pytest.fixture
def production(database_url: str) -> Settings:
    return make_settings(database_url, env="production", rate_limit_per_minute=10_000)


@pytest.fixture
async def app(
    production: Settings, database: Database, keystore: KeyStore
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(production, database, keystore) as client:
        yield client


async def as_session(
    app: httpx.AsyncClient, database: Database, settings: Settings, role: Role
) -> dict[str, str]:
    """The headers of a console request in a session of `role`: its cookie and anti-CSRF."""
    opened = await open_staff_session(database, settings, role, who=f"{role.value}-1")
    cookie = f"{session_cookie_name(settings)}={opened.token}"
    return {"cookie": cookie, CSRF_HEADER: opened.csrf_token}


async def service_bearer(app: httpx.AsyncClient, database: Database) -> dict[str, str]:
    async with audited(database) as session:
        made = await create_account(session=session, name="crm")
    issued = await app.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made.client_id,
            "client_secret": made.client_secret,
        },
    )
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


async def post(app: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await app.post("/graphql", json=body, headers=headers)


def refusal(response: httpx.Response, status: int, code: str, reason: str) -> None:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code and error["extensions"]["reason"] == reason


def counted(reason: str, audit: str) -> float:
    labels = {"reason": reason, "audit": audit}
    return REGISTRY.get_sample_value("cdp_trusted_document_refusals_total", labels) or 0.0


def errors_counted(code: str) -> float:
    return REGISTRY.get_sample_value("cdp_response_errors_total", {"code": code}) or 0.0


async def test_in_production_the_consoles_session_runs_its_trusted_documents_only(
    app: httpx.AsyncClient, database: Database, production: Settings
) -> None:
    compliance = await as_session(app, database, production, Role.COMPLIANCE)
    before = counted("TRUSTED_DOCUMENTS_ONLY", "recorded")
    refused = await post(app, compliance, {"query": AUDIT_TEXT})
    refusal(refused, 403, "FORBIDDEN", "TRUSTED_DOCUMENTS_ONLY")
    assert "console's session" in refused.json()["errors"][0]["message"]
    ran = await post(
        app,
        compliance,
        {"documentId": console_id("AuditVerify"), "operationName": "AuditVerify"},
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["data"]["auditLogVerification"]["intact"] is True
    [record] = await records_of(database, "document.refused")
    assert (record.actor_role, record.outcome) == ("compliance", "forbidden")
    assert record.actor_subject.endswith("compliance-1")
    assert record.detail == {
        "document": document_id(AUDIT_TEXT),
        "reason": "TRUSTED_DOCUMENTS_ONLY",
        "credential": "session",
    }
    assert record.request_id == refused.headers["x-request-id"]
    assert counted("TRUSTED_DOCUMENTS_ONLY", "recorded") == before + 1


async def test_in_production_a_service_bearer_token_keeps_document_text(
    app: httpx.AsyncClient, database: Database
) -> None:
    service = await service_bearer(app, database)
    answered = await post(app, service, {"query": "{ __typename }"})
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"data": {"__typename": "Query"}}
    assert await records_of(database, "document.refused") == []


async def test_outside_production_a_session_still_sends_text_unless_its_role_is_closed(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    for closed, status in (("", 200), ("support", 403)):
        settings = make_settings(database_url, trusted_documents_only=closed)
        async with app_client(settings, database, keystore) as app:
            support = await as_session(app, database, settings, Role.SUPPORT)
            response = await post(app, support, {"query": "{ __typename }"})
            assert response.status_code == status, (closed, response.text)


async def test_an_unknown_id_and_a_role_the_document_is_not_for_are_audited_without_variables(
    app: httpx.AsyncClient, database: Database, production: Settings
) -> None:
    support = await as_session(app, database, production, Role.SUPPORT)
    not_found = errors_counted("NOT_FOUND")
    unknown = await post(app, support, {"documentId": UNKNOWN, "variables": {"phone": PHONE}})
    refusal(unknown, 400, "NOT_FOUND", "PERSISTED_DOCUMENT_NOT_FOUND")
    # The audit desk's document is compliance's: support's session is refused it.
    wrong = await post(
        app, support, {"documentId": console_id("AuditDesk"), "variables": {"first": 1}}
    )
    refusal(wrong, 403, "FORBIDDEN", "DOCUMENT_ROLE")
    records = await records_of(database, "document.refused")
    assert [(r.outcome, r.detail) for r in records] == [
        (
            "not_found",
            {
                "document": UNKNOWN,
                "reason": "PERSISTED_DOCUMENT_NOT_FOUND",
                "credential": "session",
            },
        ),
        (
            "forbidden",
            {
                "document": console_id("AuditDesk"),
                "reason": "DOCUMENT_ROLE",
                "credential": "session",
            },
        ),
    ]
    assert all(r.actor_role == "support" and r.profile_id is None for r in records)
    assert PHONE not in repr([r.model_dump() for r in records])
    # The refusal's code is counted as every response error is.
    assert errors_counted("NOT_FOUND") == not_found + 1


async def test_a_bearer_token_refused_a_document_for_its_role_is_audited_as_a_token(
    app: httpx.AsyncClient, database: Database
) -> None:
    service = await service_bearer(app, database)
    wrong = await post(app, service, {"documentId": console_id("SupportLookup")})
    refusal(wrong, 403, "FORBIDDEN", "DOCUMENT_ROLE")
    [record] = await records_of(database, "document.refused")
    assert record.actor_role == "service" and record.detail["credential"] == "token"


async def test_a_principal_spraying_ids_writes_a_bounded_number_of_records(
    app: httpx.AsyncClient, database: Database, production: Settings
) -> None:
    analyst = await as_session(app, database, production, Role.ANALYST)
    sprayed = AUDITED_REFUSALS_PER_MINUTE * 3
    quiet = counted("PERSISTED_DOCUMENT_NOT_FOUND", "counted")
    started = time.monotonic()
    for n in range(sprayed):
        response = await post(app, analyst, {"documentId": f"sha256:{n:064x}"})
        # Every one is answered as a refusal, recorded or not.
        refusal(response, 400, "NOT_FOUND", "PERSISTED_DOCUMENT_NOT_FOUND")
    # The budgets refill as the loop runs (N a minute, and one notice): what they may have
    # given back by its end is allowed for, however slow the machine.
    refilled = math.ceil((time.monotonic() - started) / 60 * AUDITED_REFUSALS_PER_MINUTE)
    records = await records_of(database, "document.refused")
    outcomes = [r.outcome for r in records]
    assert outcomes[:AUDITED_REFUSALS_PER_MINUTE] == ["not_found"] * AUDITED_REFUSALS_PER_MINUTE
    assert "throttled" in outcomes
    assert len(records) <= AUDITED_REFUSALS_PER_MINUTE + 1 + refilled < sprayed
    throttled = records[outcomes.index("throttled")]
    assert throttled.detail["audited_per_minute"] == AUDITED_REFUSALS_PER_MINUTE
    unrecorded = counted("PERSISTED_DOCUMENT_NOT_FOUND", "counted") - quiet
    assert unrecorded == sprayed - len(records)
    # Another principal has a budget of its own.
    support = await as_session(app, database, production, Role.SUPPORT)
    await post(app, support, {"documentId": UNKNOWN})
    last = (await records_of(database, "document.refused"))[-1]
    assert (last.actor_role, last.outcome) == ("support", "not_found")
