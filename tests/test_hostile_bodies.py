"""A property of the whole ASGI app: whatever bytes arrive at `/graphql` or the WeChat sign-in,
with whatever content type, encoding and token, the answer is below 500 and every error
carries a contract code (INTERNAL, a masked unexpected exception, counts as a failure).

Generated: JSON of random shapes (deep nesting, numbers far beyond 64 bits, NaN, unicode with
lone surrogates, bidi and control characters, duplicate keys), GraphQL-ish documents (several
operations, odd names, literals with escapes), content types and encodings. The suite runs a
small derandomised sample; `CDP_HOSTILE_EXAMPLES=2000` runs a deeper, random one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, make_settings

EXAMPLES = int(os.environ.get("CDP_HOSTILE_EXAMPLES", "0")) or 60
DERANDOMIZE = "CDP_HOSTILE_EXAMPLES" not in os.environ
CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "SUPPRESSED",
    "QUERY_TOO_COMPLEX",
}
NASTY = ["\ud800", "\udfff", "\u202e", "\u2066", "\x1b[31m", "\n", "\x00", "\x85", "\ufeff"]
FIELDS = ["me", "profile", "profilesByTag", "canContact", "auditEvents", "analytics"]
MUTATIONS = ["tagProfile", "linkIdentity", "recordOrder", "earnPoints", "updateMyProfile"]

texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]), max_size=5),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=3)), max_size=5).map("".join),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),  # NaN and infinities become JSON's forbidden NaN / Infinity tokens
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20,
)
literals = st.one_of(
    numbers.map(str),
    texts.map(lambda t: json.dumps(t)),  # "\ud800" escapes: a lone surrogate in a literal
    st.sampled_from(["null", "true", "MARKETING", "[1, 2]", '{a: "b"}', '"""block"""', "$v"]),
    st.sampled_from(['"0001-01-01T00:00:00+01:00"', '"WyJ0YWdzIiwgWzFdXQ"', '"9999-12-31"']),
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Documents that parse often enough to reach validation and execution."""
    operations = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["query", "mutation", "subscription", ""]))
        name = draw(st.sampled_from(["", "A", "B", "A", "_x1"]))
        field = draw(st.sampled_from(MUTATIONS if kind == "mutation" else FIELDS))
        argument = draw(
            st.sampled_from(["input", "purpose", "tag", "id", "first", "after", "from", "x"])
        )
        value = draw(literals)
        operations.append(f"{kind} {name} {{ {field}({argument}: {value}) {{ id __typename }} }}")
    noise = draw(
        st.lists(st.sampled_from(["{", "}", "(", ")", "...", "#", "\\u", '"']), max_size=3)
    )
    return " ".join(operations + noise)


@st.composite
def raw_json(draw: st.DrawFn) -> str:
    """JSON text, sometimes with what a serialiser would never write: duplicate keys, deep
    nesting, NaN."""
    shape = draw(st.sampled_from(["request", "request", "request", "value", "deep", "duplicate"]))
    ascii_only = draw(st.booleans())  # else raw characters, lone surrogates included
    if shape == "value":
        return json.dumps(draw(json_values), ensure_ascii=ascii_only)
    if shape == "deep":
        levels = draw(st.sampled_from([63, 64, 65, 200, 5000]))
        objects = draw(st.booleans())
        opening, closing = ('{"a": ', "}") if objects else ("[", "]")
        core = opening * levels + "1" + closing * levels
        return '{"query": "{ __typename }", "variables": {"v": ' + core + "}}"
    query = draw(st.one_of(documents(), texts))
    request: dict[str, Any] = {"query": query}
    if draw(st.booleans()):
        request["variables"] = draw(st.one_of(st.dictionaries(texts, json_values), json_values))
    if draw(st.booleans()):
        request["operationName"] = draw(st.one_of(st.sampled_from(["A", "B", "C"]), json_values))
    text = json.dumps(request, ensure_ascii=ascii_only)
    if shape == "duplicate":
        text = text[:-1] + ', "query": "{ __typename }"}'
    return text


ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1"]
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    'application/json; charset="latin1"',
    "application/graphql",
    "text/plain",
    "",
]
ACCEPTS = ["application/json", "application/graphql-response+json", "*/*", "text/html", ""]


@pytest.fixture(scope="module")
async def hostile_app(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    path = tmp_path_factory.mktemp("hostile") / "cdp.db"
    shutil.copyfile(sqlite_template, path)
    config = make_settings(f"sqlite+aiosqlite:///{path}", rate_limit_per_minute=0)
    database = Database(config)
    app = create_app(config, database, KeyringSource.fixed(TEST_KEYRING))
    tokens = {
        role.value: f"Bearer {issue_token(config, role=role, subject=f'hostile-{role.value}')}"
        for role in Role
    }
    tokens.update({"none": "", "garbage": "Bearer a.b.c"})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
        yield client, tokens
    await database.dispose()


def violations(response: httpx.Response) -> list[str]:
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:300]}"]
    if response.headers.get("content-type", "").startswith("text/html"):
        return []  # GraphiQL, for a browser's GET
    try:
        body = response.json()
    except ValueError:
        return [f"HTTP {response.status_code}: the body is not JSON"]
    found = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code not in CODES:
            found.append(f"HTTP {response.status_code}: error coded {code!r}: {error}")
    return found


@settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    text=raw_json(),
    encoding=st.sampled_from(ENCODINGS),
    content_type=st.sampled_from(CONTENT_TYPES),
    accept=st.sampled_from(ACCEPTS),
    who=st.sampled_from(["service", "customer", "support", "compliance", "none", "garbage"]),
    path=st.sampled_from(["/graphql", "/graphql", "/graphql", "/auth/wechat/mini-program"]),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "OPTIONS", "PUT"]),
)
async def test_no_body_reaches_a_5xx_and_every_error_is_coded(
    hostile_app: tuple[httpx.AsyncClient, dict[str, str]],
    text: str,
    encoding: str,
    content_type: str,
    accept: str,
    who: str,
    path: str,
    method: str,
) -> None:
    client, tokens = hostile_app
    headers = {"content-type": content_type, "accept": accept}
    if tokens[who]:
        headers["authorization"] = tokens[who]
    content = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    response = await client.request(method, path, content=content, headers=headers)
    assert not violations(response), (text[:500], encoding, content_type, violations(response))


@settings(max_examples=EXAMPLES, derandomize=DERANDOMIZE, database=None, deadline=None)
@given(raw=st.binary(max_size=300))
async def test_random_bytes_get_a_coded_answer(
    hostile_app: tuple[httpx.AsyncClient, dict[str, str]], raw: bytes
) -> None:
    client, tokens = hostile_app
    headers = {"content-type": "application/json", "authorization": tokens["service"]}
    response = await client.post("/graphql", content=raw, headers=headers)
    assert not violations(response)
