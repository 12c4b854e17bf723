"""GraphQL over HTTP and the error contract: methods, auth, bodies, media types, masking."""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

import cdp.profiles.service
import cdp.unit_of_work
from cdp.app import create_app
from cdp.auth import Role
from cdp.db import Database
from cdp.migrations import head_revision
from cdp.profiles.models import Identity, Profile
from tests.conftest import TEST_JWT_SECRET, ClientFactory, error_codes, gql, make_settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
CANARY_PHONE = "13900001111"
SUBSCRIPTION = "subscription { me { id } }"
LINK_TWICE = """
mutation {
  first: linkIdentity(input: {channel: MINI_PROGRAM, appId: "wx1111111111111111",
                              openId: "oMini_two_mutations_000000001"}) { id }
  second: linkIdentity(input: {channel: MINI_PROGRAM, appId: "wx1111111111111111",
                               openId: "null"}) { id }
}
"""


def token(claims: dict[str, Any], secret: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    now = int(time.time())
    full = {"sub": "order-service", "role": "service", "iat": now, "exp": now + 600, "iss": "cdp"}
    full.update(claims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about HS512 with a short key
        return jwt.encode({k: v for k, v in full.items() if v is not None}, secret, algorithm)


def post(
    client: httpx.AsyncClient,
    body: Any = None,
    *,
    content: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    if content is not None:
        sent = {"content-type": "application/json", **(headers or {})}
        return client.post("/graphql", content=content, headers=sent)
    return client.post("/graphql", json=body, headers=headers)


def assert_one_coded_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert "data" not in body, body
    assert error_codes(body) == [code], body
    assert body["errors"][0]["message"]
    return body


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def count(database: Database, table: Any) -> int:
    async with database.transaction() as session:
        query = sa.select(sa.func.count()).select_from(table)
        return int((await session.execute(query)).scalar_one())


def production_keyring(path: Path) -> Path:
    """A production (non-development) keyring file, where this version of cdp has keyrings."""
    try:
        crypto = importlib.import_module("cdp.crypto")
    except ModuleNotFoundError:
        return path
    crypto.Keyring.generate(development=False).save(path)
    return path


@pytest.fixture
async def production_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    keyring = production_keyring(tmp_path / "production-keyring.json")
    settings = make_settings(database_url, env="production", keyring=keyring)
    database = Database(settings)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            yield client
    finally:
        await database.dispose()


# --- methods and GraphiQL -------------------------------------------------------------------


async def test_queries_over_get_are_refused_with_a_code(service_client: httpx.AsyncClient) -> None:
    response = await service_client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"}
    )
    assert_one_coded_error(response, 405, "BAD_USER_INPUT")
    assert response.headers["allow"] == "POST"


async def test_get_without_any_accept_header_is_refused_too(
    service_client: httpx.AsyncClient,
) -> None:
    response = await service_client.get("/graphql", headers={"accept": ""})
    assert_one_coded_error(response, 405, "BAD_USER_INPUT")
    assert response.headers["allow"] == "POST"


async def test_a_browser_gets_graphiql_in_development(client_for: ClientFactory) -> None:
    browser = client_for(None)
    response = await browser.get(
        "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 200
    assert media_type(response) == "text/html"
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(
    production_client: httpx.AsyncClient,
) -> None:
    response = await production_client.get(
        "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert_one_coded_error(response, 405, "BAD_USER_INPUT")
    assert "graphiql" not in response.text.lower()
    assets = await production_client.get("/graphql/assets/vendor/graphiql@3.8.3/graphiql.min.js")
    assert_one_coded_error(assets, 404, "NOT_FOUND")


async def test_introspection_is_refused_in_production(
    production_client: httpx.AsyncClient,
) -> None:
    # A customer's token: production refuses staff and service tokens signed with the secret.
    customer = token({"role": "customer", "sub": "c0ffee00-0000-4000-8000-000000000001"})
    response = await post(
        production_client,
        {"query": "{ __schema { queryType { name } } }"},
        headers={"authorization": f"Bearer {customer}"},
    )
    body = response.json()
    assert response.status_code < 500
    assert "__schema" not in str(body.get("data")), body
    assert error_codes(body) and set(error_codes(body)) <= {"BAD_USER_INPUT", "FORBIDDEN"}


async def test_introspection_is_available_in_development(
    service_client: httpx.AsyncClient,
) -> None:
    body = await gql(service_client, "{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


# --- authentication ---------------------------------------------------------------------------


async def test_a_request_without_a_token_is_unauthenticated(client_for: ClientFactory) -> None:
    response = await post(client_for(None), {"query": "{ __typename }"})
    assert_one_coded_error(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic c2VydmljZTpzZWNyZXQ=", id="basic-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank-token"),
        pytest.param("Token " + "x" * 20, id="other-scheme"),
        pytest.param("Bearer not.a.jwt", id="garbage-token"),
        pytest.param("Bearer " + token({}, secret="another-secret-" + "z" * 40), id="other-secret"),
        pytest.param("Bearer " + token({"exp": int(time.time()) - 120}), id="expired"),
        pytest.param("Bearer " + token({"role": "admin"}), id="unknown-role"),
        pytest.param("Bearer " + token({"role": None}), id="missing-role"),
        pytest.param("Bearer " + token({"sub": None}), id="missing-sub"),
        pytest.param("Bearer " + token({"sub": "   "}), id="blank-sub"),
        pytest.param("Bearer " + token({"exp": None}), id="missing-exp"),
        pytest.param("Bearer " + token({"iss": "someone-else"}), id="other-issuer"),
        pytest.param("Bearer " + token({}, secret="", algorithm="none"), id="alg-none"),
        pytest.param("Bearer " + token({}, secret=TEST_JWT_SECRET, algorithm="HS512"), id="hs512"),
    ],
)
async def test_a_bad_authorization_header_is_unauthenticated(
    client_for: ClientFactory, authorization: str
) -> None:
    response = await post(
        client_for(None),
        {"query": "{ __typename }"},
        headers={"authorization": authorization},
    )
    body = assert_one_coded_error(response, 401, "UNAUTHENTICATED")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert "Traceback" not in str(body)


async def test_unauthenticated_comes_before_a_bad_body(client_for: ClientFactory) -> None:
    response = await post(client_for(None), content=b"{not json")
    assert_one_coded_error(response, 401, "UNAUTHENTICATED")


async def test_a_valid_token_is_accepted(client_for: ClientFactory) -> None:
    response = await post(
        client_for(None),
        {"query": "{ __typename }"},
        headers={"authorization": f"Bearer {token({})}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


# --- request bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(b"{not json", 400, id="malformed-json"),
        pytest.param(b"", 400, id="empty-body"),
        pytest.param(b"\xff\xfe\x00garbage", 415, id="not-utf8"),
        pytest.param(b'[{"query": "{ __typename }"}]', 400, id="batched-array"),
        pytest.param(b'"{ __typename }"', 400, id="json-string"),
        pytest.param(b"42", 400, id="json-number"),
        pytest.param(b"null", 400, id="json-null"),
        pytest.param(b"{}", 400, id="missing-query"),
        pytest.param(b'{"query": ""}', 400, id="empty-query"),
        pytest.param(b'{"query": "   "}', 400, id="blank-query"),
        pytest.param(b'{"query": 12}', 400, id="query-not-a-string"),
        pytest.param(b'{"query": ["{ __typename }"]}', 400, id="query-a-list"),
        pytest.param(b'{"query": "{ __typename }", "variables": [1]}', 400, id="variables-list"),
        pytest.param(b'{"query": "{ __typename }", "variables": "{}"}', 400, id="variables-string"),
        pytest.param(
            b'{"query": "{ __typename }", "operationName": 3}', 400, id="operation-name-number"
        ),
        pytest.param(b'{"query": "{ __typename }", "extensions": 1}', 400, id="extensions-number"),
    ],
)
async def test_malformed_bodies_are_bad_user_input_never_5xx(
    service_client: httpx.AsyncClient, content: bytes, status: int
) -> None:
    response = await post(service_client, content=content)
    assert_one_coded_error(response, status, "BAD_USER_INPUT")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/graphql", ""],
)
async def test_a_body_that_is_not_declared_json_is_refused(
    service_client: httpx.AsyncClient, content_type: str
) -> None:
    response = await service_client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": content_type},
    )
    assert 400 <= response.status_code < 500
    assert response.status_code in (400, 415)
    assert_one_coded_error(response, response.status_code, "BAD_USER_INPUT")


async def test_a_json_content_type_with_a_charset_is_accepted(
    service_client: httpx.AsyncClient,
) -> None:
    response = await service_client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"query": "query A { __typename } query B { __typename }", "operationName": "C"},
            id="unknown-name-among-several",
        ),
        pytest.param({"query": "query A { __typename }", "operationName": "B"}, id="wrong-name"),
        pytest.param({"query": "{ __typename }", "operationName": "B"}, id="name-for-anonymous"),
        pytest.param({"query": "fragment F on Query { __typename }"}, id="fragment-only"),
    ],
)
async def test_a_document_without_the_named_operation_is_a_coded_request_error(
    service_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await post(service_client, body)
    assert response.status_code < 500, response.text
    result = response.json()
    assert "data" not in result
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_variables_of_the_wrong_type_are_a_coded_request_error(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client,
        {
            "query": "mutation L($input: LinkIdentityInput!) "
            "{ linkIdentity(input: $input) { id } }",
            "variables": {"input": {"channel": "NOT_A_CHANNEL", "appId": 1}},
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}


# --- media types ------------------------------------------------------------------------------


async def test_a_syntax_error_is_a_400_under_graphql_response_json(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client, {"query": "{ me { id "}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_a_validation_error_is_a_400_under_graphql_response_json(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client, {"query": "{ noSuchField }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "noSuchField" in body["errors"][0]["message"]


async def test_a_valid_query_is_a_200_under_graphql_response_json(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client, {"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_field_error_keeps_data_and_is_a_200_under_graphql_response_json(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client,
        {
            "query": '{ profile(id: "nobody", unionId: "oUnion_x_0000000000000001", purpose: "t") '
            "{ id } }"
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"profile": None}
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_syntax_error_is_a_200_under_plain_json(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client, {"query": "{ me { id "}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_graphql_response_json_is_preferred_when_both_are_acceptable(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client,
        {"query": "{ __typename }"},
        headers={"accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"},
    )
    assert media_type(response) == GRAPHQL_RESPONSE


async def test_an_unacceptable_accept_header_is_406_with_a_code(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client, {"query": "{ __typename }"}, headers={"accept": "text/csv"}
    )
    assert_one_coded_error(response, 406, "BAD_USER_INPUT")


async def test_unauthenticated_under_graphql_response_json_keeps_that_media_type(
    client_for: ClientFactory,
) -> None:
    response = await post(
        client_for(None), {"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert_one_coded_error(response, 401, "UNAUTHENTICATED")
    assert media_type(response) == GRAPHQL_RESPONSE


# --- operation types --------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_subscription_is_refused_with_a_code(
    service_client: httpx.AsyncClient, accept: str
) -> None:
    response = await post(service_client, {"query": SUBSCRIPTION}, headers={"accept": accept})
    assert 200 <= response.status_code < 500, response.text
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_subscription_chosen_by_operation_name_is_refused_with_a_code(
    service_client: httpx.AsyncClient,
) -> None:
    response = await post(
        service_client,
        {"query": "query Q { __typename } subscription S { me { id } }", "operationName": "S"},
    )
    assert response.status_code < 500, response.text
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


# --- masking ----------------------------------------------------------------------------------


async def test_unexpected_exceptions_are_masked_and_logged_without_personal_data(
    service_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(**_kwargs: Any) -> None:
        raise RuntimeError(f'duplicate key value violates constraint: phone="{CANARY_PHONE}"')

    monkeypatch.setattr(cdp.profiles.service, "find_profile", explode)
    caplog.set_level(logging.DEBUG)

    response = await post(
        service_client,
        {
            "query": 'query P($phone: String) { profile(phone: $phone, purpose: "ticket 7") '
            "{ id } }",
            "variables": {"phone": CANARY_PHONE},
        },
    )

    assert response.status_code < 500
    body = response.json()
    assert error_codes(body) == ["INTERNAL"]
    error = body["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert error["path"] == ["profile"]
    assert CANARY_PHONE not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "duplicate key" not in response.text

    for record in caplog.records:
        everything = f"{record.getMessage()} {vars(record)!r}"
        assert CANARY_PHONE not in everything, record
        assert "duplicate key" not in everything, record
    assert CANARY_PHONE not in caplog.text
    logged = [r for r in caplog.records if r.name == "cdp.errors"]
    assert logged, [r.name for r in caplog.records]
    assert any("RuntimeError" in str(getattr(r, "error_type", "")) for r in logged)
    assert any(getattr(r, "request_id", None) == error["extensions"]["requestId"] for r in logged)


async def test_a_failing_commit_is_masked_and_logged_without_its_message(
    service_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fail(_self: Any) -> None:
        raise RuntimeError(f"could not serialize access: phone={CANARY_PHONE}")

    monkeypatch.setattr(cdp.unit_of_work.UnitOfWork, "commit", fail)
    caplog.set_level(logging.DEBUG)

    response = await post(service_client, {"query": "{ __typename }"})

    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["INTERNAL"]
    assert body["errors"][0]["message"] == "Internal server error"
    assert response.headers["x-request-id"]
    assert CANARY_PHONE not in response.text
    assert CANARY_PHONE not in caplog.text
    for record in caplog.records:
        assert CANARY_PHONE not in repr(vars(record)), record
    assert any(
        r.name == "cdp.errors" and "RuntimeError" in str(getattr(r, "error_type", ""))
        for r in caplog.records
    )


async def test_every_internal_error_names_its_request_id(
    service_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(_self: Any) -> None:
        raise RuntimeError("commit failed")

    monkeypatch.setattr(cdp.unit_of_work.UnitOfWork, "commit", fail)
    response = await post(service_client, {"query": "{ __typename }"})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"].get("requestId") == response.headers["x-request-id"]


async def test_parse_errors_are_not_masked(service_client: httpx.AsyncClient) -> None:
    body = await gql(service_client, "{ profile(purpose: ) { id } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert message != "Internal server error"
    assert "Syntax Error" in message
    assert body["errors"][0]["locations"]


async def test_validation_errors_are_not_masked(service_client: httpx.AsyncClient) -> None:
    body = await gql(service_client, '{ profile(purpose: "x") { nickname } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert message != "Internal server error"
    assert "nickname" in message


async def test_field_suggestions_are_disabled(client_for: ClientFactory) -> None:
    customer = client_for(Role.CUSTOMER, subject="p_nobody")
    body = await gql(customer, "{ me { phon } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "phon" in body["errors"][0]["message"]
    assert "Did you mean" not in str(body)
    body = await gql(customer, "{ mee { id } }")
    assert "Did you mean" not in str(body)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param('{ profile(purpos: "x") { id } }', id="argument"),
        pytest.param('{ profile(purpose: "x") { ... on Profil { id } } }', id="type"),
        pytest.param(
            'mutation { linkIdentity(input: {channel: MINI_PROGRAMM, appId: "wx1", '
            'openId: "o1"}) { id } }',
            id="enum-value",
        ),
    ],
)
async def test_no_validation_error_suggests_schema_names(
    service_client: httpx.AsyncClient, query: str
) -> None:
    body = await gql(service_client, query)
    assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}
    assert "Did you mean" not in str(body)


# --- request ids ------------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    responses = [
        await post(service_client, {"query": "{ __typename }"}),
        await post(service_client, {"query": "{ nope }"}),
        await post(service_client, content=b"[]"),
        await post(service_client, {"query": "{ __typename }"}, headers={"accept": "text/csv"}),
        await post(client_for(None), {"query": "{ __typename }"}),
        await service_client.get("/graphql", headers={"accept": "application/json"}),
        await service_client.get("/graphql", headers={"accept": "text/html"}),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids), "each request gets its own id"


async def test_a_sane_incoming_request_id_is_echoed(service_client: httpx.AsyncClient) -> None:
    given = "req-2f6c1b2e-4b1d-4d7a-9f0e-1234567890ab"
    response = await post(
        service_client, {"query": "{ __typename }"}, headers={"x-request-id": given}
    )
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    [
        b"a" * 65,
        b"bad id with spaces",
        "id-\u4e2d\u6587".encode(),
        b"<script>",
        b"x;y",
        b"13900001111@evil",
        b"---",
    ],
)
async def test_an_unusable_incoming_request_id_is_replaced(
    service_client: httpx.AsyncClient, given: bytes
) -> None:
    response = await service_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": given}
    )
    echoed = response.headers["x-request-id"]
    assert echoed
    assert echoed.encode("latin-1") != given
    assert len(echoed) <= 64
    assert echoed.isascii() and echoed.replace("-", "").isalnum()


# --- health -----------------------------------------------------------------------------------


async def test_healthz_is_ok(client_for: ClientFactory) -> None:
    response = await client_for(None).get("/healthz")
    assert response.status_code == 200


async def test_readyz_reports_the_revision_when_migrated(client_for: ClientFactory) -> None:
    response = await client_for(None).get("/readyz")
    assert response.status_code == 200
    assert response.json()["revision"] == head_revision()


async def test_readyz_is_503_when_migrations_are_behind(
    client_for: ClientFactory, database: Database
) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    response = await client_for(None).get("/readyz")
    assert response.status_code == 503
    assert "revision" not in response.json()


# --- mutations in one document ----------------------------------------------------------------


async def test_a_failing_second_mutation_keeps_the_first_ones_effect(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    response = await post(service_client, {"query": LINK_TWICE})
    assert response.status_code == 200
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["second"]
    assert body["errors"][0]["extensions"]["field"] == "openId"
    assert "data" in body

    assert await count(database, Profile) == 1
    assert await count(database, Identity) == 1
    found = await gql(
        service_client,
        '{ profile(openId: "oMini_two_mutations_000000001", appId: "wx1111111111111111", '
        'purpose: "check the first mutation") { id } }',
    )
    assert "errors" not in found, found
    assert found["data"]["profile"]["id"]


async def test_a_failing_second_mutation_still_returns_the_first_ones_data(
    service_client: httpx.AsyncClient,
) -> None:
    body = await gql(service_client, LINK_TWICE)
    assert body["data"] is not None
    assert body["data"]["first"]["id"]
    assert body["data"]["second"] is None
