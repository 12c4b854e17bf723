"""Hostile input at the HTTP layer: JSON bodies, encodings, operation choice, methods, tokens.
Each answer is a coded 4xx, never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

import cdp
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.json_body import nesting_depth
from cdp.keys.source import KeyringSource
from tests.conftest import (
    TEST_JWT_SECRET,
    TEST_KEYRING,
    ClientFactory,
    error_codes,
    make_settings,
)

GRAPHQL_RESPONSE = "application/graphql-response+json"
TYPENAME = b'{"query": "{ __typename }"}'


def nested(levels: int, inner: bytes = b"1") -> bytes:
    return b"[" * levels + inner + b"]" * levels


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def send(
    client: httpx.AsyncClient, content: bytes, content_type: str = "application/json", **kw: Any
) -> httpx.Response:
    headers = {"content-type": content_type, **kw.pop("headers", {})}
    return await client.post("/graphql", content=content, headers=headers, **kw)


def one_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    return dict(error)


def signed(claims: dict[str, Any], key: str = TEST_JWT_SECRET, **kw: Any) -> str:
    now = int(time.time())
    full = {"sub": "svc-1", "role": "service", "iat": now, "exp": now + 600, "iss": "cdp"}
    full.update(claims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about the weak key, on purpose here
        return jwt.encode({k: v for k, v in full.items() if v is not None}, key, **kw)


# --- nesting -------------------------------------------------------------------------------


async def test_five_thousand_nested_arrays_are_refused_before_the_parser_sees_them(
    service_client: httpx.AsyncClient,
) -> None:
    body = b'{"query": "{ __typename }", "variables": {"x": ' + nested(5000) + b"}}"
    error = one_error(await send(service_client, body), 400, "QUERY_TOO_COMPLEX")
    assert error["extensions"]["limit"] == "nesting"
    assert "64" in error["message"]


async def test_nesting_at_the_limit_is_read(service_client: httpx.AsyncClient) -> None:
    # The body object, `variables`, then 62 arrays: 64 levels in all.
    body = b'{"query": "{ __typename }", "variables": {"x": ' + nested(62) + b"}}"
    response = await send(service_client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}
    deeper = b'{"query": "{ __typename }", "variables": {"x": ' + nested(63) + b"}}"
    one_error(await send(service_client, deeper), 400, "QUERY_TOO_COMPLEX")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('"\\"' * 20000, id="escaped-quotes-never-closing"),
        pytest.param('"' + "\\\\" * 30000, id="escaped-backslashes"),
        pytest.param("[" * 60000, id="brackets"),
        pytest.param("\\" * 60000, id="backslashes-outside-strings"),
    ],
)
def test_the_nesting_scan_is_linear(text: str) -> None:
    started = time.perf_counter()
    nesting_depth(text, stop_above=64)
    assert time.perf_counter() - started < 2  # a backtracking regex took 20 s on the first


def test_brackets_inside_strings_do_not_count_towards_nesting() -> None:
    assert nesting_depth('{"a": "[[[[{{{{\\"]]]]"}') == 1
    assert nesting_depth('[{"a": [1, {"b": []}]}]') == 5
    assert nesting_depth('"just a string"') == 0
    assert nesting_depth('["a\\\\", ["\\"["]]') == 2


async def test_the_json_depth_limit_is_a_setting(database_url: str) -> None:
    assert make_settings(database_url).max_json_depth == 64
    settings = make_settings(database_url, max_json_depth=8)
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    token = issue_token(settings, role=Role.SERVICE, subject="svc-1")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            body = b'{"query": "{ __typename }", "variables": {"x": ' + nested(7) + b"}}"
            one_error(await send(client, body), 400, "QUERY_TOO_COMPLEX")
            body = b'{"query": "{ __typename }", "variables": {"x": ' + nested(6) + b"}}"
            assert (await send(client, body)).status_code == 200
    finally:
        await database.dispose()


# --- encodings and media types -------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(TYPENAME.decode().encode("utf-16"), id="utf-16-with-bom"),
        pytest.param(TYPENAME.decode().encode("utf-16-le"), id="utf-16-le"),
        pytest.param(TYPENAME.decode().encode("utf-32"), id="utf-32-with-bom"),
        pytest.param(TYPENAME.decode().encode("utf-32-be"), id="utf-32-be"),
        pytest.param(b"\xef\xbb\xbf" + TYPENAME, id="utf-8-bom"),
        pytest.param(b'{"query": "{ __typename }", "x": "\xe9"}', id="latin-1"),
    ],
)
async def test_a_body_that_is_not_utf8_is_a_coded_415(
    service_client: httpx.AsyncClient, content: bytes
) -> None:
    one_error(await send(service_client, content), 415, "BAD_USER_INPUT")


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", '"utf-32"', "gbk"])
async def test_a_charset_other_than_utf8_is_a_coded_415(
    service_client: httpx.AsyncClient, charset: str
) -> None:
    response = await send(service_client, TYPENAME, f"application/json; charset={charset}")
    one_error(response, 415, "BAD_USER_INPUT")


async def test_utf8_named_in_any_case_is_accepted(service_client: httpx.AsyncClient) -> None:
    response = await send(service_client, TYPENAME, 'application/json; charset="UTF-8"')
    assert response.status_code == 200, response.text


# --- keys, numbers, surrogates -------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"query": "{ nope }", "query": "{ __typename }"}', id="top-level"),
        pytest.param(
            b'{"query": "{ __typename }", "variables": {"a": {"b": 1, "b": 2}}}', id="nested"
        ),
    ],
)
async def test_duplicate_keys_are_refused(
    service_client: httpx.AsyncClient, content: bytes
) -> None:
    error = one_error(await send(service_client, content), 400, "BAD_USER_INPUT")
    assert "twice" in error["message"]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
async def test_nan_infinity_and_overflowing_floats_are_refused(
    service_client: httpx.AsyncClient, number: bytes
) -> None:
    content = b'{"query": "{ __typename }", "variables": {"n": ' + number + b"}}"
    one_error(await send(service_client, content), 400, "BAD_USER_INPUT")


@pytest.mark.parametrize("digits", [20, 40, 5000])
async def test_integers_beyond_64_bits_are_coded_errors(
    service_client: httpx.AsyncClient, digits: int
) -> None:
    query = 'query($n: Int!) { profilesByTag(tag: \\"t\\", first: $n) { items { id } } }'
    content = f'{{"query": "{query}", "variables": {{"n": {"9" * digits}}}}}'.encode()
    response = await send(service_client, content)
    assert response.status_code in (200, 400), response.text
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_a_lone_surrogate_in_an_enum_variable_names_its_path(
    service_client: httpx.AsyncClient,
) -> None:
    query = (
        'query($c: Channel!) { canContact(profileId: \\"x\\", purpose: MARKETING, channel: $c)'
        " { allowed } }"
    )
    content = f'{{"query": "{query}", "variables": {{"c": "\\ud800"}}}}'.encode()
    error = one_error(await send(service_client, content), 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "variables.c"


async def test_a_lone_surrogate_deep_in_an_input_names_its_path(
    service_client: httpx.AsyncClient,
) -> None:
    content = (
        b'{"query": "mutation($input: RecordOrderInput!) { recordOrder(input: $input) { id } }",'
        b' "variables": {"input": {"items": [{"sku": "A"}, {"name": "x\\udfff"}]}}}'
    )
    error = one_error(await send(service_client, content), 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "variables.input.items.1.name"


async def test_a_surrogate_pair_is_a_character_like_any_other(
    service_client: httpx.AsyncClient,
) -> None:
    content = b'{"query": "{ __typename }", "variables": {"emoji": "\\ud83d\\ude00"}}'
    assert (await send(service_client, content)).status_code == 200


async def test_a_lone_surrogate_in_the_query_names_the_query(
    service_client: httpx.AsyncClient,
) -> None:
    content = b'{"query": "{ __typename } # \\ud800"}'
    error = one_error(await send(service_client, content), 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "query"


# --- choosing the operation ----------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_several_operations_without_an_operation_name_are_refused(
    service_client: httpx.AsyncClient, accept: str
) -> None:
    response = await service_client.post(
        "/graphql",
        json={"query": "query A { __typename } query B { __typename }"},
        headers={"accept": accept},
    )
    error = one_error(response, 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "operationName"


@pytest.mark.parametrize(
    "body",
    [
        {"query": "query A { __typename } query B { __typename }", "operationName": "C"},
        {"query": "{ __typename }", "operationName": "A"},
    ],
)
async def test_an_operation_name_naming_no_operation_is_a_400(
    service_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    one_error(await service_client.post("/graphql", json=body), 400, "BAD_USER_INPUT")


async def test_an_operation_name_chooses_among_several(service_client: httpx.AsyncClient) -> None:
    body = {"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"}
    response = await service_client.post("/graphql", json=body)
    assert response.json() == {"data": {"b": "Query"}}


# --- methods and paths ---------------------------------------------------------------------


async def test_options_on_graphql_is_a_coded_405_without_cors(
    service_client: httpx.AsyncClient,
) -> None:
    response = await service_client.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    one_error(response, 405, "BAD_USER_INPUT")
    assert response.headers["allow"] == "POST"
    assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_a_post_from_another_origin_gets_no_cors_headers(
    service_client: httpx.AsyncClient,
) -> None:
    response = await service_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("access-control-")]


@pytest.mark.parametrize(("method", "path"), [("OPTIONS", "/healthz"), ("DELETE", "/readyz")])
async def test_a_method_a_route_does_not_take_is_a_coded_405_with_allow(
    client_for: ClientFactory, method: str, path: str
) -> None:
    response = await client_for(None).request(method, path)
    one_error(response, 405, "BAD_USER_INPUT")
    assert "GET" in response.headers["allow"]
    assert response.headers["x-request-id"]


async def test_an_unknown_path_is_a_coded_404(client_for: ClientFactory) -> None:
    one_error(await client_for(None).get("/nothing-here"), 404, "NOT_FOUND")


# --- tokens --------------------------------------------------------------------------------


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


NOW = int(time.time())


def hs256_by_hand(key: bytes) -> str:
    """PyJWT will not sign with an empty key; an attacker will."""
    claims = {"sub": "svc-1", "role": "service", "iat": NOW, "exp": NOW + 600, "iss": "cdp"}
    head = unsigned({"alg": "HS256", "typ": "JWT"}, claims)[:-1]
    mac = hmac.new(key, head.encode(), hashlib.sha256).digest()
    return head + "." + b64(mac)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(signed({"exp": str(NOW + 600)}), id="exp-numeric-string"),
        pytest.param(signed({"exp": [NOW + 600]}), id="exp-list"),
        pytest.param(signed({"exp": True}), id="exp-bool"),
        pytest.param(signed({"exp": NOW + 600.5}), id="exp-float"),
        pytest.param(signed({"iat": str(NOW)}), id="iat-numeric-string"),
        pytest.param(signed({"iat": {"n": NOW}}), id="iat-object"),
        pytest.param(signed({"nbf": str(NOW)}), id="nbf-numeric-string"),
        pytest.param(signed({"nbf": NOW + 3600}), id="nbf-in-the-future"),
        pytest.param(signed({"iat": NOW + 3600}), id="iat-in-the-future"),
        pytest.param(signed({"sub": 12345}), id="sub-number"),
        pytest.param(signed({"sub": ["svc-1"]}), id="sub-list"),
        pytest.param(signed({"sub": "svc\u202e1"}), id="sub-bidi"),
        pytest.param(signed({"sub": "svc\n1"}), id="sub-newline"),
        pytest.param(signed({"role": ["service"]}), id="role-list"),
        pytest.param(signed({"role": "SERVICE"}), id="role-upper-case"),
        pytest.param(signed({"role": "service "}), id="role-trailing-space"),
        pytest.param(hs256_by_hand(b""), id="empty-key"),
        pytest.param(signed({}, key="secret"), id="weak-key"),
        pytest.param(
            signed({}, key="attacker-" + "k" * 40, headers={"kid": "../../dev/null"}), id="kid"
        ),
        pytest.param(
            signed({}, key="attacker-" + "k" * 40, headers={"jku": "https://evil.example/jwks"}),
            id="jku",
        ),
        pytest.param(
            signed(
                {},
                key="attacker-" + "k" * 40,
                headers={"jwk": {"kty": "oct", "k": base64.b64encode(b"k" * 40).decode()}},
            ),
            id="jwk",
        ),
        pytest.param(
            unsigned(
                {"alg": "none", "typ": "JWT"},
                {"sub": "svc-1", "role": "service", "exp": NOW + 600},
            ),
            id="alg-none",
        ),
        pytest.param(
            unsigned({"alg": "HS256"}, {"sub": "a", "role": "service", "exp": NOW + 600}),
            id="no-signature",
        ),
        pytest.param(
            unsigned({"alg": "HS256"}, {})[:-2] + b64(b'{"x": ' + nested(3000) + b"}") + ".",
            id="deep-claims",
        ),
    ],
)
async def test_claim_tricks_and_forged_tokens_are_unauthenticated(
    client_for: ClientFactory, token: str
) -> None:
    response = await client_for(None).post(
        "/graphql", json={"query": "{ __typename }"}, headers={"authorization": f"Bearer {token}"}
    )
    one_error(response, 401, "UNAUTHENTICATED")


async def test_a_token_outside_the_authorization_header_is_not_read(
    settings: Any, client_for: ClientFactory
) -> None:
    good = issue_token(settings, role=Role.SERVICE, subject="svc-1")
    anonymous = client_for(None)
    attempts = [
        anonymous.post(f"/graphql?access_token={good}", json={"query": "{ __typename }"}),
        anonymous.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"cookie": f"token={good}"}
        ),
        anonymous.post("/graphql", json={"query": "{ __typename }", "token": good}),
        anonymous.post(
            "/graphql", json={"query": "{ __typename }", "extensions": {"authorization": good}}
        ),
        anonymous.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"x-access-token": good}
        ),
    ]
    for attempt in attempts:
        one_error(await attempt, 401, "UNAUTHENTICATED")


# --- cursors: client-chosen text that the server decodes --------------------------------------


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(cursor_of(b'["by-tag", ' + nested(5000) + b"]"), id="deeply-nested"),
        pytest.param(cursor_of(b'["by-tag", [1]]'), id="part-a-list"),
        pytest.param(cursor_of(b'["by-tag", "abc"]'), id="part-a-string"),
        pytest.param(cursor_of(b'["by-tag", 1000000000000000000000000000000]'), id="part-huge"),
        pytest.param(cursor_of(b'["by-tag", 1e999]'), id="part-infinite"),
        pytest.param(cursor_of(b'["by-tag", true]'), id="part-bool"),
        pytest.param(cursor_of(b'["by-tag", 1, 1]'), id="too-many-parts"),
        pytest.param("A" * 5000, id="long"),
    ],
)
async def test_a_forged_cursor_is_bad_user_input(
    service_client: httpx.AsyncClient, after: str
) -> None:
    query = 'query($a: String) { profilesByTag(tag: "t", after: $a) { items { id } } }'
    response = await service_client.post(
        "/graphql", json={"query": query, "variables": {"a": after}}
    )
    assert response.status_code in (200, 400), response.text
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("seq", [b"9" * 30, b"-1", b"1e3", b"\xd9\xa1" * 30])
async def test_a_forged_audit_cursor_is_bad_user_input(
    compliance_client: httpx.AsyncClient, seq: bytes
) -> None:
    after = base64.urlsafe_b64encode(b"audit:" + seq).decode()
    query = "query($a: String) { auditEvents(after: $a) { items { seq } } }"
    response = await compliance_client.post(
        "/graphql", json={"query": query, "variables": {"a": after}}
    )
    assert response.status_code == 200, response.text
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


def test_only_the_json_reader_reads_request_bodies() -> None:
    """Every endpoint added later reads JSON through cdp/json_body.py, and so gets its checks."""
    readers = ("request.body()", "request.json()", "request.stream()", "request.form()")
    package = Path(cdp.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "json_body.py" and any(r in path.read_text() for r in readers)
    ]
    assert offenders == []


EDGE_OF_TIME = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("moment", EDGE_OF_TIME)
@pytest.mark.parametrize(
    ("role", "document", "variables", "field"),
    [
        pytest.param(
            Role.SERVICE,
            "mutation($v: RecordEventInput!) { recordEvent(input: $v) { status } }",
            {"eventId": "e1", "type": "a", "channel": "WEB", "profileId": "p"},
            "occurredAt",
            id="event",
        ),
        pytest.param(
            Role.SERVICE,
            "mutation($v: RecordOrderInput!) { recordOrder(input: $v) { id } }",
            {"profileId": "p", "channel": "WEB", "externalId": "e", "status": "PAID", "items": []},
            "paidAt",
            id="order",
        ),
        pytest.param(
            Role.SERVICE,
            "mutation($v: IssueCouponInput!) { issueCoupon(input: $v) { id } }",
            {"profileId": "p", "title": "t", "discountFen": 1, "idempotencyKey": "k"},
            "validUntil",
            id="coupon",
        ),
        pytest.param(
            Role.COMPLIANCE,
            "query($v: DateTime) { auditEvents(from: $v) { items { seq } } }",
            None,
            "from",
            id="audit",
        ),
    ],
)
async def test_a_moment_that_leaves_the_calendar_in_utc_is_bad_user_input(
    client_for: ClientFactory,
    role: Role,
    document: str,
    variables: dict[str, Any] | None,
    field: str,
    moment: str,
) -> None:
    value: Any = moment if variables is None else {**variables, field: moment}
    response = await client_for(role).post(
        "/graphql", json={"query": document, "variables": {"v": value}}
    )
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
