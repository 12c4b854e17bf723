"""The differential test of compiled execution: every trusted document (cdp's pages' and the
registered ones, the bench's `me` among them) run for every role over demo data, once
compiled (by its one SQL statement, else its steps) and once by graphql-core's executor,
gives the same answer: status, data, errors with their paths and locations, and the same
audit records (what the rows are written as for the roles `me` denies is held to the
executor's `profile` in tests/test_compiled_statement.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.graphql import compiled as compiled_module
from cdp.graphql import compiled_steps, sql_readers, sql_writer, view
from cdp.graphql.compiled import compiled_document, execute_compiled
from cdp.graphql.documents import operation_of
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.sql_plan import execute_sql
from tests.support.audit_log import audit_rows, summary
from tests.support.trusted_demo import NOBODY, PAGES, PEOPLE, REGISTERED, ask, demo

__all__ = ["demo"]  # the fixture, used by name


def test_the_member_centre_and_the_registered_queries_are_compiled() -> None:
    core, limits = core_schema(build_schema()), Limits()
    compiled = [
        t for t in [*PAGES.values(), *REGISTERED] if compiled_document(core, t, limits, True)
    ]
    assert [operation_of(t).name for t in compiled] == [
        "MemberCenter",
        "MiniProgramHome",
        "WholeProfile",
        "Me",
    ]
    # ... and each, for the customer, into one statement: none falls back to the steps.
    for document in filter(None, (compiled_document(core, t, limits, True) for t in compiled)):
        plan = document.sql_plan(Role.CUSTOMER)
        assert plan is not None and plan.key == "me"
        assert document.sql_plan(Role.SUPPORT) is None  # `me` denied: the steps audit it


async def test_every_trusted_document_answers_and_audits_alike_on_both_paths_for_every_role(
    settings: Settings, database: Database, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[bool] = []

    async def counted(*args: Any) -> Any:
        result = await execute_compiled(*args)
        ran.append(result is not None)
        return result

    sql: list[bool] = []

    async def by_sql(*args: Any) -> Any:
        result = await execute_sql(*args)
        sql.append(result is not None)
        return result

    monkeypatch.setattr(view, "execute_compiled", counted)
    monkeypatch.setattr(compiled_module, "execute_sql", by_sql)
    compared = 0
    for key, text in demo["documents"].items():
        if operation_of(text).kind != "query":
            continue  # mutations are never compiled: both paths are the executor
        for role in Role:
            subjects = [*demo["people"], NOBODY] if role is Role.CUSTOMER else [f"{role.value}-1"]
            for subject in subjects:
                token = issue_token(settings, role=role, subject=subject)
                answers = []
                for compiled in (True, False):
                    response = await ask(demo["apps"][compiled], token, {"documentId": key})
                    records = await audit_rows(database, response.headers["x-request-id"])
                    answers.append(
                        (response.status_code, response.json(), [summary(r) for r in records])
                    )
                assert answers[0] == answers[1], (operation_of(text).label, role, subject)
                compared += 1
    assert compared >= 4 * (PEOPLE + 1)
    # Compiled execution answered every compiled query itself: each customer's, and the
    # support role's run of the registered ones (`me` denied: FORBIDDEN on both paths)...
    assert ran.count(True) == 4 * (PEOPLE + 1) + 3 and all(ran)
    # ... every person's by the one statement (nobody's, by the steps: NOT_FOUND).
    assert sql.count(True) == 4 * PEOPLE and len(sql) == 4 * (PEOPLE + 1)


async def test_what_the_steps_cannot_answer_is_answered_by_the_executor_from_a_clean_trail(
    settings: Settings, database: Database, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = next(k for k, t in demo["documents"].items() if "WholeProfile" in t)
    for subject in demo["people"]:  # someone with orders
        token = issue_token(settings, role=Role.CUSTOMER, subject=subject)
        generic = await ask(demo["apps"][False], token, {"documentId": whole})
        if generic.json()["data"]["me"]["orders"]["items"]:
            break
    expected = [summary(r) for r in await audit_rows(database, generic.headers["x-request-id"])]
    plain_complete = compiled_steps._Run.complete

    def unsure(self: Any, children: Any, type_: Any, value: Any, path: Any) -> Any:
        if getattr(type_, "name", None) == "Order":  # after the personal fields were read
            raise sql_readers.NotCompiled("as if an order could not be answered exactly")
        return plain_complete(self, children, type_, value, path)

    ran: list[bool] = []

    async def counted(*args: Any) -> Any:
        result = await execute_compiled(*args)
        ran.append(result is not None)
        return result

    async def no_statement(*args: Any) -> None:
        return None  # as if the one statement could not answer it: the steps run

    monkeypatch.setattr(compiled_module, "execute_sql", no_statement)
    monkeypatch.setattr(compiled_steps._Run, "complete", unsure)
    monkeypatch.setattr(view, "execute_compiled", counted)
    response = await ask(demo["apps"][True], token, {"documentId": whole})
    assert ran == [False]
    assert response.status_code == generic.status_code == 200
    assert response.json() == generic.json() and response.json()["data"]["me"]["orders"]["items"]
    records = await audit_rows(database, response.headers["x-request-id"])
    assert [summary(r) for r in records] == expected


async def test_what_the_statement_cannot_write_is_answered_by_the_steps_from_a_clean_trail(
    settings: Settings, database: Database, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = next(k for k, t in demo["documents"].items() if "WholeProfile" in t)
    for subject in demo["people"]:  # someone with orders
        token = issue_token(settings, role=Role.CUSTOMER, subject=subject)
        generic = await ask(demo["apps"][False], token, {"documentId": whole})
        if generic.json()["data"]["me"]["orders"]["items"]:
            break
    expected = [summary(r) for r in await audit_rows(database, generic.headers["x-request-id"])]
    plain_write = sql_writer.write_object

    def unsure(nodes: Any, source: Any, run: Any, path: Any) -> Any:
        if nodes and nodes[0].type_name == "Order":  # after the profile's personal fields
            raise sql_readers.NotCompiled("as if an order could not be written exactly")
        return plain_write(nodes, source, run, path)

    sql: list[bool] = []

    async def by_sql(*args: Any) -> Any:
        result = await execute_sql(*args)
        sql.append(result is not None)
        return result

    monkeypatch.setattr(sql_writer, "write_object", unsure)
    monkeypatch.setattr(compiled_module, "execute_sql", by_sql)
    response = await ask(demo["apps"][True], token, {"documentId": whole})
    assert sql == [False]
    assert response.status_code == generic.status_code == 200
    assert response.json() == generic.json() and response.json()["data"]["me"]["orders"]["items"]
    records = await audit_rows(database, response.headers["x-request-id"])
    assert [summary(r) for r in records] == expected
