"""Fuzzing the GraphQL API with schemathesis, in-process over ASGI, as every role.

For each root field, schemathesis (hypothesis-graphql underneath) generates valid and invalid
documents from the introspected schema; each one is sent with the token of each of the five
roles. No answer may be a 5xx, and every error must carry a contract code (INTERNAL, a masked
unexpected exception, counts as a failure too).

The suite runs a fixed, derandomised sample (FUZZ_EXAMPLES documents per field). For a deeper,
random run: `CDP_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes
from schemathesis.python import asgi

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, TEST_KEYRING_PATH, make_settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
CONTRACT_CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "SUPPRESSED",
    "QUERY_TOO_COMPLEX",
}  # and INTERNAL, which is the one a fuzzer must never see
FUZZ_EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "0")) or 15
DERANDOMIZE = "CDP_FUZZ_EXAMPLES" not in os.environ


def root_fields() -> list[str]:
    """`Query.me`, `Mutation.linkIdentity`, ...: schemathesis's operation labels."""
    schema = graphql.build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    roots = [schema.query_type, schema.mutation_type]
    return [f"{root.name}.{name}" for root in roots if root is not None for name in root.fields]


JSON_KEYS = st.sampled_from(
    ["all", "any", "not", "event", "type", "tier", "in", "atLeast", "withinDays", "properties"]
) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=3),
    max_leaves=12,
)


def json_node(value: Any) -> graphql.ValueNode:
    """A JSON value as the GraphQL literal that spells it."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([json_node(v) for v in value])
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=json_node(v))
            for k, v in value.items()
        ]
    )


@dataclass(frozen=True)
class FuzzTarget:
    schema: Any  # schemathesis.specs.graphql.schemas.GraphQLSchema
    tokens: dict[Role, str]


def seed_demo_people(database_url: str) -> list[str]:
    """`cdp demo-data` (people with identities, orders, coupons, points, consents, events):
    the public ids of what it made, for the fuzzer to use as IDs."""
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
    }
    command = [sys.executable, "-m", "cdp", "demo-data", "--profiles", "20", "--seed", "9"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with contextlib.closing(sqlite3.connect(database_url.split("///", 1)[1])) as db:
        return [
            public_id
            for table in ("profiles", "coupons", "orders")
            for (public_id,) in db.execute(f"SELECT public_id FROM {table} ORDER BY id")
        ]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Any]:
    """The app over a fresh SQLite database of demo people; the customer is the first of them.
    Generated IDs are mostly those of real profiles, coupons and orders."""
    path = tmp_path_factory.mktemp("fuzz") / "cdp.db"
    shutil.copyfile(sqlite_template, path)
    database_url = f"sqlite+aiosqlite:///{path}"
    known_ids = seed_demo_people(database_url)
    # Random strings would only ever find NOT_FOUND.
    schemathesis.graphql.scalar(
        "ID", st.one_of(st.sampled_from(known_ids), st.text(max_size=40)).map(nodes.String)
    )
    # Audience definitions (JSON): trees of the definition's own words and anything else.
    schemathesis.graphql.scalar("JSON", JSON_VALUES.map(json_node))
    # The rate limit is not under test here, and a fuzzer is a very busy client.
    config = make_settings(database_url, rate_limit_per_minute=0)
    app = create_app(config, keyring=KeyringSource.fixed(TEST_KEYRING))
    tokens = {
        role: issue_token(
            config,
            role=role,
            subject=known_ids[0] if role is Role.CUSTOMER else f"fuzz-{role.value}",
        )
        for role in Role
    }
    schema = schemathesis.graphql.from_asgi(
        "/graphql", app, headers={"authorization": f"Bearer {tokens[Role.SERVICE]}"}
    )
    try:
        yield FuzzTarget(schema=schema, tokens=tokens)
    finally:
        asgi.shutdown_lifespans()  # disposes the app's engine on the loop that used it


def contract_violations(status: int, text: str) -> list[str]:
    if status >= 500:
        return [f"HTTP {status}"]
    try:
        body = json.loads(text)
    except ValueError:
        return [f"HTTP {status}: the body is not JSON"]
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        return [f"HTTP {status}: not a GraphQL response"]
    problems = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code not in CONTRACT_CODES:
            problems.append(f"HTTP {status}: error coded {code!r}: {error.get('message')!r}")
    return problems


@pytest.mark.parametrize("operation", root_fields())
def test_fuzzed_documents_get_no_5xx_and_only_contract_error_codes_for_any_role(
    fuzz_target: FuzzTarget, operation: str
) -> None:
    found = fuzz_target.schema.find_operation_by_label(operation)
    assert found is not None, f"{operation} is in schema.graphql but not served"
    documents = st.one_of(
        found.as_strategy(GenerationMode.POSITIVE), found.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=documents)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=DERANDOMIZE,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def every_role_gets_a_coded_answer(case: Any) -> None:
        problems = []
        for role, token in fuzz_target.tokens.items():
            # A generous wait: this asks for coded answers, not for speed on a loaded machine.
            response = case.call(headers={"authorization": f"Bearer {token}"}, timeout=60)
            problems += [
                f"{role.value}: {p}"
                for p in contract_violations(response.status_code, response.text)
            ]
        assert not problems, "\n".join([case.body, *problems])

    every_role_gets_a_coded_answer()
