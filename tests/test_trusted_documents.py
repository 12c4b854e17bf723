"""Trusted documents over HTTP: `{"documentId": ...}` runs a document of cdp's pages or one a
brand registered, exactly as its text would run (data, errors, audit), and everything else
about an id is a coded 4xx; in production the customer runs trusted documents only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.crypto import Keyring
from cdp.db import Database
from cdp.documents import registry
from cdp.graphql import trusted
from cdp.graphql.documents import operation_of
from cdp.graphql.trusted import PAGES_MANIFEST
from tests.conftest import ClientFactory, audited, make_settings
from tests.support.audit_log import Person, audit_rows, summary

PAGES: dict[str, str] = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
BY_NAME = {text.split()[1].split("(")[0]: key for key, text in PAGES.items()}
MEMBER_CENTER = BY_NAME["MemberCenter"]
SWITCH_CONSENT = BY_NAME["SwitchConsent"]
LOOKUP = 'query Lookup($id: ID!) { profile(id: $id, purpose: "工单 #1") { id tier name } }'


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/graphql", json=body)


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["extensions"]["code"] == code, errors
    return dict(errors[0]["extensions"])


async def test_the_member_centre_by_id_answers_and_audits_as_its_text_does(
    database: Database, alice: Person
) -> None:
    by_text = await post(alice.client, {"query": PAGES[MEMBER_CENTER]})
    by_id = await post(alice.client, {"documentId": MEMBER_CENTER})
    assert by_id.status_code == by_text.status_code == 200
    assert by_id.json() == by_text.json()
    assert by_id.json()["data"]["me"]["phone"] == "13700000001"
    text_records = await audit_rows(database, by_text.headers["x-request-id"])
    id_records = await audit_rows(database, by_id.headers["x-request-id"])
    assert text_records and [summary(r) for r in id_records] == [summary(r) for r in text_records]


async def test_a_page_mutation_by_id_takes_its_variables(alice: Person) -> None:
    choice = {"purpose": "MARKETING", "granted": False}
    response = await post(
        alice.client,
        {"documentId": SWITCH_CONSENT, "variables": {"input": {"consents": [choice]}}},
    )
    assert response.status_code == 200, response.text
    current = response.json()["data"]["updateMyConsents"]["consents"]["current"]
    assert all(not c["granted"] for c in current if c["purpose"] == "MARKETING")


async def test_apollos_persisted_query_shape_names_the_same_trusted_document(
    alice: Person,
) -> None:
    apollo = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": MEMBER_CENTER[7:]}}}
    by_hash, by_id = (
        await post(alice.client, apollo),
        await post(alice.client, {"documentId": MEMBER_CENTER}),
    )
    assert by_hash.status_code == 200 and by_hash.json() == by_id.json()


async def test_an_unknown_id_is_not_found_with_its_reason(alice: Person) -> None:
    response = await post(alice.client, {"documentId": "sha256:" + "0" * 64})
    extensions = refusal(response, 400, "NOT_FOUND")
    assert extensions["reason"] == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert extensions["field"] == "documentId"


@pytest.mark.parametrize(
    "given", ["sha256:ABC", "md5:" + "0" * 32, "0" * 64, 42, "sha256:" + "g" * 64]
)
async def test_a_malformed_id_is_bad_user_input(alice: Person, given: object) -> None:
    response = await post(alice.client, {"documentId": given})
    assert refusal(response, 400, "BAD_USER_INPUT")["field"] == "documentId"


async def test_query_and_document_id_together_are_refused(alice: Person) -> None:
    response = await post(alice.client, {"query": "{ me { id } }", "documentId": MEMBER_CENTER})
    assert refusal(response, 400, "BAD_USER_INPUT")["reason"] == "QUERY_AND_DOCUMENT_ID"


async def test_a_role_the_document_is_not_for_is_forbidden(client_for: ClientFactory) -> None:
    response = await post(client_for(Role.SUPPORT), {"documentId": MEMBER_CENTER})
    assert refusal(response, 403, "FORBIDDEN")["reason"] == "DOCUMENT_ROLE"


async def test_a_variable_the_document_does_not_declare_is_bad_user_input(
    alice: Person,
) -> None:
    response = await post(alice.client, {"documentId": MEMBER_CENTER, "variables": {"x": 1}})
    assert refusal(response, 400, "BAD_USER_INPUT")["field"] == "variables.x"


@pytest.mark.parametrize(
    "variables",
    [None, {"input": {"consents": "MARKETING"}}, {"input": {"consents": [{"purpose": "X"}]}}],
)
async def test_variables_that_do_not_fit_are_a_coded_400(
    alice: Person, variables: dict[str, Any] | None
) -> None:
    response = await post(alice.client, {"documentId": SWITCH_CONSENT, "variables": variables})
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


async def test_an_operation_name_other_than_the_documents_is_refused(alice: Person) -> None:
    response = await post(alice.client, {"documentId": MEMBER_CENTER, "operationName": "Other"})
    assert refusal(response, 400, "BAD_USER_INPUT")["field"] == "operationName"


async def register(database: Database, text: str, *roles: Role) -> str:
    operation = operation_of(text)
    async with audited(database) as session:
        row, _ = await registry.register(
            session=session,
            text=text,
            operation_name=operation.name,
            operation_type=operation.kind,
            roles=roles,
        )
    return row.id


async def test_a_registered_document_runs_for_its_roles_and_no_other(
    database: Database, client_for: ClientFactory, alice: Person
) -> None:
    key = await register(database, LOOKUP, Role.SUPPORT)
    support, compliance = client_for(Role.SUPPORT), client_for(Role.COMPLIANCE)
    body = {"documentId": key, "variables": {"id": alice.public_id}}
    by_id = await post(support, body)
    by_text = await post(support, {"query": LOOKUP, "variables": body["variables"]})
    assert by_id.status_code == 200 and by_id.json() == by_text.json()
    assert by_id.json()["data"]["profile"]["name"] == "审*"
    assert [summary(r) for r in await audit_rows(database, by_id.headers["x-request-id"])] == [
        summary(r) for r in await audit_rows(database, by_text.headers["x-request-id"])
    ]
    assert refusal(await post(compliance, body), 403, "FORBIDDEN")["reason"] == "DOCUMENT_ROLE"
    await register(database, LOOKUP, Role.SUPPORT, Role.COMPLIANCE)  # its roles, changed
    assert (await post(compliance, body)).json()["data"]["profile"]["name"] == "审*"


async def test_the_limits_hold_for_a_trusted_document_as_for_its_text(alice: Person) -> None:
    many = [{"purpose": "MARKETING", "granted": n % 2 == 0} for n in range(101)]
    variables = {"input": {"consents": many}}
    by_id = await post(alice.client, {"documentId": SWITCH_CONSENT, "variables": variables})
    by_text = await post(alice.client, {"query": PAGES[SWITCH_CONSENT], "variables": variables})
    assert refusal(by_id, 400, "BAD_USER_INPUT")["limit"] == "list"
    assert by_id.json() == by_text.json()


@pytest.fixture
async def production(database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    keyring_path = tmp_path / "production-keyring.json"
    Keyring.generate(development=False).save(keyring_path)
    settings = make_settings(database_url, env="production", keyring=keyring_path)
    database = Database(settings)
    app = create_app(settings, database)

    def client(role: Role, subject: str) -> httpx.AsyncClient:
        token = issue_token(settings, role=role, subject=subject)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )

    try:
        yield client
    finally:
        await database.dispose()


async def test_in_production_a_customer_runs_trusted_documents_only(production: Any) -> None:
    # A customer without a profile yet: the trusted document runs (and finds nobody), the
    # document's text is refused before anything runs.
    async with production(Role.CUSTOMER, "c0ffee00-0000-4000-8000-00000000beef") as customer:
        refused = await post(customer, {"query": "{ me { id phone } }"})
        assert refusal(refused, 403, "FORBIDDEN")["reason"] == "TRUSTED_DOCUMENTS_ONLY"
        trusted = await post(customer, {"documentId": MEMBER_CENTER})
        assert trusted.status_code == 200, trusted.text
        assert trusted.json()["data"] == {"me": None}
        assert trusted.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_setting_closes_other_roles_to_document_text_too(
    database_url: str, database: Database, alice: Person
) -> None:
    settings = make_settings(database_url, trusted_documents_only="support")
    app = create_app(settings, database)
    token = issue_token(settings, role=Role.SUPPORT, subject="support-1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as support:
        body = {"query": LOOKUP, "variables": {"id": alice.public_id}}
        refused = await post(support, body)
        assert refusal(refused, 403, "FORBIDDEN")["reason"] == "TRUSTED_DOCUMENTS_ONLY"
        key = await register(database, LOOKUP, Role.SUPPORT)
        ran = await post(support, {"documentId": key, "variables": body["variables"]})
        assert ran.json()["data"]["profile"]["id"] == alice.public_id


async def test_a_role_taken_from_a_registered_document_is_refused_once_its_row_expires(
    database: Database,
    client_for: ClientFactory,
    alice: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(trusted.time, "monotonic", lambda: clock[0])
    key = await register(database, LOOKUP, Role.SUPPORT, Role.COMPLIANCE)
    compliance = client_for(Role.COMPLIANCE)
    body = {"documentId": key, "variables": {"id": alice.public_id}}
    assert (await post(compliance, body)).json()["data"]["profile"]["id"] == alice.public_id
    await register(database, LOOKUP, Role.SUPPORT)  # compliance's role, taken away
    clock[0] += trusted.FOUND_FOR_SECONDS - 1  # still within the kept row's time
    assert (await post(compliance, body)).json()["data"]["profile"]["id"] == alice.public_id
    clock[0] += 2
    assert refusal(await post(compliance, body), 403, "FORBIDDEN")["reason"] == "DOCUMENT_ROLE"
