"""The differential test of compiled execution: every trusted document (cdp's pages' and the
registered ones, the bench's `me` among them) run for every role over demo data, once
compiled (by its one SQL statement, else its steps) and once by graphql-core's executor,
gives the same answer: status, data, errors with their paths and locations, and the same
audit records. The fields written from the rows are also held, for every role the policy
masks or denies, to what the executor answers for the same person through `profile`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from sqlmodel import col

from bench.customer import ME as BENCH_ME
from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.demo import seed_demo_data
from cdp.documents import registry
from cdp.errors import ErrorCode
from cdp.graphql import compiled as compiled_module
from cdp.graphql import compiled_steps, sql_readers, sql_writer, view
from cdp.graphql.compiled import compiled_document, execute_compiled
from cdp.graphql.documents import operation_of
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.sql_plan import execute_sql, plan_sql, unwrap_keys, write_answer
from cdp.graphql.trusted import PAGES_MANIFEST
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.profiles.models import Profile
from cdp.readmodel.person import read_person
from tests.conftest import TEST_KEYRING, audited
from tests.support.audit_log import audit_rows, summary

PAGES: dict[str, str] = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
# A brand's documents: the mini-program's home of the README, every field of a profile, and
# the bench's `me` (the issue's profile shape).
REGISTERED = [
    """query MiniProgramHome {
  me { id name tier points { balance }
       coupons(status: AVAILABLE, first: 5) { items { title discountFen validUntil } } }
}""",
    """query WholeProfile { me {
  id tier unionId phone name birthday createdAt updatedAt phoneVerified phoneSource
  address { province city district street }
  identities { channel appId openId linkedAt }
  tierProgress { spendFen nextTier nextTierFen }
  points { balance history(first: 10) {
    items { id kind points balanceAfter reason channel createdAt expiresAt }
    pageInfo { hasNextPage endCursor } } }
  coupons(first: 5) {
    items { id title kind discountFen percentOff minSpendFen channels validFrom validUntil
            status issuedAt redeemedAt }
    pageInfo { hasNextPage endCursor } }
  orders(first: 20) {
    items { id channel externalId status itemsFen discountFen shippingFen totalFen entryFrom
            entryParams paidAt items { sku name quantity unitPriceFen amountFen }
            shippingAddress { province city district street } }
    pageInfo { hasNextPage endCursor } }
  tags { items { name source taggedAt } }
  consents { current { purpose channel granted explicit noticeVersion sourceChannel updatedAt }
             history(first: 20) { items { purpose channel granted noticeVersion changedAt } } }
  ...More
} }
fragment More on Profile { wechatFollows { appId following } }""",
    BENCH_ME,
]
PEOPLE = 12
NOBODY = "c0ffee00-0000-4000-8000-00000000f00d"


@pytest.fixture
async def demo(
    settings: Settings, database: Database, keystore: KeyStore
) -> AsyncIterator[dict[str, Any]]:
    keyring = KeyringSource.fixed(TEST_KEYRING)
    await seed_demo_data(database, keyring, keystore=keystore, profiles=PEOPLE)
    documents = dict(PAGES)
    async with audited(database) as session:
        for text in REGISTERED:
            operation = operation_of(text)
            row, _ = await registry.register(
                session=session,
                text=text,
                operation_name=operation.name,
                operation_type=operation.kind,
                roles=[Role.CUSTOMER, Role.SUPPORT],
            )
            documents[row.id] = text
        people = list(await session.scalars(sa.select(col(Profile.public_id))))
    apps = {
        compiled: create_app(
            settings.model_copy(update={"compiled_documents": compiled}),
            database,
            keyring,
            keystore,
        )
        for compiled in (True, False)
    }
    yield {"documents": documents, "people": people, "apps": apps}


async def ask(app: Any, token: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as client:
        return await client.post("/graphql", json=body)


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
