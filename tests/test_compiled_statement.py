"""The response written from one statement's rows, held to the executor beyond `me`'s own
answers: for every role the policy masks or denies a profile's fields to, the same fields
written from the rows for that role equal what the executor answers through `profile` for
the same person and selection (data, FORBIDDEN errors with their paths and locations, the
fields of the `pii.read` record); and random selections of a profile's fields, aliased and
repeated, and a document's variables, answer alike compiled and not."""

from __future__ import annotations

import random
from typing import Any

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse, print_ast

from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.documents import registry
from cdp.errors import ErrorCode
from cdp.graphql import compiled as compiled_module
from cdp.graphql.compiled import compiled_document
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.sql_plan import execute_sql, plan_sql, unwrap_keys, write_answer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.readmodel.person import read_person
from tests.conftest import TEST_KEYRING, audited
from tests.support.audit_log import audit_rows, summary
from tests.support.trusted_demo import PEOPLE, REGISTERED, ask, demo

__all__ = ["demo"]  # the fixture, used by name


def _reads(run: Any) -> list[dict[str, str]]:
    """A run's personal reads folded as the trail folds them (a denial stays)."""
    fields: dict[str, str] = {}
    for _, field, access in run.reads:
        if fields.get(field) != "denied":
            fields[field] = access
    return [{"field": f, "access": a} for f, a in sorted(fields.items())]


async def test_masked_and_denied_fields_written_from_the_rows_are_the_lookups_answer_for_each_role(
    settings: Settings, database: Database, keystore: KeyStore, demo: dict[str, Any]
) -> None:
    # `me` is the customer's alone, so every other role's masks and denials are held here to
    # what the executor answers through `profile` for the same person and selection.
    core = core_schema(build_schema())
    selection = REGISTERED[1].split("me {", 1)[1].rsplit("} }", 1)[0]
    fragment = REGISTERED[1].rsplit("} }", 1)[1]
    checked = denied = masked = 0
    for person in demo["people"]:
        text = f'query {{ profile(id: "{person}", purpose: "differential") {{{selection}}} }}'
        text += fragment
        document = parse(text)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for role in (Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE, Role.ANALYST):
            plan = plan_sql(core, operation, fragments, role, root_field="profile")
            if role is Role.ANALYST:
                assert plan is None  # `profile` denied: nothing is planned
                continue
            assert plan is not None
            token = issue_token(settings, role=role, subject=f"{role.value}-1")
            response = await ask(demo["apps"][False], token, {"query": text})
            generic = response.json()
            [record] = [
                r
                for r in await audit_rows(database, response.headers["x-request-id"])
                if r["action"] == "pii.read"
            ]
            now = utcnow()
            async with database.transaction() as session:
                read = await read_person(
                    session=session, public_id=person, wants=plan.wants, now=now
                )
            assert read is not None and not read.due
            vault = Vault(KeyringSource.fixed(TEST_KEYRING), keystore)
            await unwrap_keys(plan, read, vault)
            data, run = write_answer(plan, read, vault, settings, role, now)
            assert data == generic["data"], role
            expected = generic.get("errors", [])
            errors = [
                {k: e.formatted[k] for k in ("path", "message", "locations")} for e in run.errors
            ]
            assert errors == [{k: e[k] for k in ("path", "message", "locations")} for e in expected]
            assert all(e["extensions"]["code"] == "FORBIDDEN" for e in expected)
            assert all(e.original_error.code is ErrorCode.FORBIDDEN for e in run.errors)
            denied += len(errors)
            masked += sum(f["access"] == "masked" for f in record["fields"])
            assert _reads(run) == record["fields"], role
            checked += 1
    assert checked == 3 * PEOPLE and denied and masked


def _tree(selections: Any) -> list[tuple[str, str, list[Any]]]:
    """(name, arguments as written, children) of each field of a selection set."""
    found = []
    for node in selections.selections:
        if not isinstance(node, FieldNode):
            continue
        arguments = ", ".join(print_ast(a) for a in node.arguments or ())
        children = _tree(node.selection_set) if node.selection_set else []
        found.append((node.name.value, f"({arguments})" if arguments else "", children))
    return found


def _pick(rng: random.Random, tree: list[tuple[str, str, list[Any]]]) -> str:
    """A random selection of `tree`: some fields, some aliased, some twice, in any order."""
    chosen = rng.sample(tree, rng.randint(1, len(tree)))
    chosen += rng.sample(tree, rng.randint(0, min(2, len(tree))))  # again: merged, or aliased
    parts = []
    for name, arguments, children in chosen:
        # One alias per field name, so that merged selections never conflict; few of them,
        # within the limit on aliases.
        alias = f"my_{name}: " if rng.random() < 0.06 else ""
        below = f" {{ {_pick(rng, children)} }}" if children else ""
        parts.append(f"{alias}{name}{arguments}{below}")
    return " ".join(parts)


async def test_random_selections_of_a_profile_answer_and_audit_alike_compiled_and_not(
    settings: Settings, database: Database, demo: dict[str, Any]
) -> None:
    rng = random.Random(28)
    document = parse(REGISTERED[1])
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    [me] = operation.selection_set.selections
    assert isinstance(me, FieldNode) and me.selection_set is not None
    tree = _tree(me.selection_set)
    compiled = 0
    for n in range(30):
        text = f"query Random{n} {{ me {{ {_pick(rng, tree)} }} }}"
        async with audited(database) as session:
            row, _ = await registry.register(
                session=session,
                text=text,
                operation_name=f"Random{n}",
                operation_type="query",
                roles=[Role.CUSTOMER],
            )
        subject = rng.choice(demo["people"])
        token = issue_token(settings, role=Role.CUSTOMER, subject=subject)
        answers = []
        for app in (demo["apps"][True], demo["apps"][False]):
            response = await ask(app, token, {"documentId": row.id})
            records = await audit_rows(database, response.headers["x-request-id"])
            answers.append((response.status_code, response.json(), [summary(r) for r in records]))
        assert answers[0] == answers[1], text
        core = core_schema(build_schema())
        found = compiled_document(core, text, Limits(), True)
        compiled += found is not None and found.sql_plan(Role.CUSTOMER) is not None
    assert compiled == 30  # every one by the one statement


WITH_VARIABLES = """query MyPages($orders: Int = 5, $status: CouponStatus, $ledger: Int!,
                   $tags: Int = 2, $after: String) {
  me { id tier
    orders(first: $orders) { items { id totalFen items { sku quantity } }
                             pageInfo { hasNextPage endCursor } }
    coupons(status: $status, first: 3) { items { id title status } pageInfo { endCursor } }
    points { balance history(first: $ledger) { items { id points } pageInfo { hasNextPage } } }
    tags(first: $tags, after: $after) { items { name } pageInfo { endCursor hasNextPage } }
  }
}"""


async def test_a_document_with_variables_is_answered_by_the_statement_for_each_set_of_them(
    settings: Settings,
    database: Database,
    demo: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with audited(database) as session:
        row, _ = await registry.register(
            session=session,
            text=WITH_VARIABLES,
            operation_name="MyPages",
            operation_type="query",
            roles=[Role.CUSTOMER],
        )
    sql: list[bool] = []

    async def by_sql(*args: Any) -> Any:
        result = await execute_sql(*args)
        sql.append(result is not None)
        return result

    monkeypatch.setattr(compiled_module, "execute_sql", by_sql)
    answered = [
        {"ledger": 3},
        {"ledger": 1, "orders": 2, "status": "AVAILABLE"},
        {"ledger": 100, "orders": 100, "status": "REDEEMED", "tags": 100},
        {"ledger": 3, "status": None, "tags": 1, "after": None},
    ]
    refused = [
        {},  # $ledger is required
        {"ledger": "three"},  # not an Int
        {"ledger": 0},  # out of range: BAD_USER_INPUT from the resolver
        {"ledger": 3, "status": "SOMETIME"},
        {"ledger": 3, "after": "not-a-cursor"},  # a cursor: the executor checks it
        {"ledger": 101},  # beyond the page's limit, and the cost's
    ]
    for subject in demo["people"][:4]:
        token = issue_token(settings, role=Role.CUSTOMER, subject=subject)
        for variables in [*answered, *refused]:
            body = {"documentId": row.id, "variables": variables}
            answers = []
            for app in (demo["apps"][True], demo["apps"][False]):
                response = await ask(app, token, body)
                records = await audit_rows(database, response.headers["x-request-id"])
                answers.append(
                    (response.status_code, response.json(), [summary(r) for r in records])
                )
            assert answers[0] == answers[1], variables
    # The statement answered every good set of variables; the rest it left to the executor.
    assert sql.count(True) == 4 * len(answered)
