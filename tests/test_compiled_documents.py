"""The differential test of compiled execution: every trusted document (cdp's pages' and the
registered ones) run for every role over demo data, once by its compiled steps and once by
graphql-core's executor, gives the same answer: status, data, errors with their paths and
locations, and the same audit records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.demo import seed_demo_data
from cdp.documents import registry
from cdp.graphql import compiled as compiled_module
from cdp.graphql import compiled_steps, sql_readers, view
from cdp.graphql.compiled import compiled_document, execute_compiled
from cdp.graphql.documents import operation_of
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.sql_plan import execute_sql
from cdp.graphql.trusted import PAGES_MANIFEST
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.profiles.models import Profile
from tests.conftest import TEST_KEYRING, audited
from tests.support.audit_log import audit_rows, summary

PAGES: dict[str, str] = json.loads(PAGES_MANIFEST.read_text(encoding="utf-8"))
# A brand's documents: the mini-program's home of the README, and the bench's whole profile.
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
    ]


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
    assert compared >= 3 * (PEOPLE + 1)
    # The compiled steps answered every compiled query themselves: each customer's, and the
    # support role's run of the two registered ones (`me` denied: FORBIDDEN on both paths).
    assert ran.count(True) == 3 * (PEOPLE + 1) + 2 and all(ran)
    print("SQL", sql.count(True), len(sql))


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
