"""Bugs the schemathesis fuzz (tests/test_fuzz.py) found, one test each so they stay fixed.

- A failing field cancels its siblings (graphql-core 3.3): no statement may be cut off
  mid-flight, or the request's transaction is lost and the client gets a 500.
- Analytics day ranges at the ends of the calendar overflowed into INTERNAL errors.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.db import Database, run_to_completion
from cdp.profiles.models import Identity
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.analytics_measures import MEASURES

LINK_THEN_BAD_PAGE = """
mutation {
  linkIdentity(input: {channel: MINI_PROGRAM, appId: "wx1111111111111111",
                       openId: "oMini_cancelled_sibling_0001"}) {
    tier
    coupons(first: 0) { items { id } }
  }
}
"""


async def identities(database: Database) -> int:
    async with database.transaction() as session:
        query = sa.select(sa.func.count()).select_from(Identity)
        return int((await session.execute(query)).scalar_one())


async def test_a_failing_field_leaves_its_siblings_work_and_the_mutation_committed(
    client_for: ClientFactory, database: Database
) -> None:
    service_client = client_for(Role.SERVICE)
    body = await gql(service_client, LINK_THEN_BAD_PAGE)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["path"] == ["linkIdentity", "coupons"]
    assert body["data"] == {"linkIdentity": None}
    assert await identities(database) == 1


async def test_a_failing_field_in_a_read_leaves_its_siblings_reads_audited(
    client_for: ClientFactory, database: Database
) -> None:
    service_client = client_for(Role.SERVICE)
    linked = await gql(
        service_client,
        'mutation { linkIdentity(input: {channel: MINI_PROGRAM, appId: "wx1111111111111111",'
        ' openId: "oMini_cancelled_sibling_0002"}) { id } }',
    )
    support_client = client_for(Role.SUPPORT, subject="support-cancelled")
    body = await gql(
        support_client,
        'query($id: ID!) { profile(id: $id, purpose: "ticket 1") {'
        " tier phone coupons(first: 0) { items { id } } } }",
        {"id": linked["data"]["linkIdentity"]["id"]},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    async with database.transaction() as session:
        query = sa.select(AuditEvent.action).where(AuditEvent.actor_subject == "support-cancelled")
        actions = list((await session.execute(query)).scalars())
    assert "pii.read" in actions, actions


async def test_a_statement_runs_to_completion_when_its_caller_is_cancelled() -> None:
    finished = asyncio.Event()

    async def statement() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "done"

    caller = asyncio.ensure_future(run_to_completion(statement()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert finished.is_set()


async def test_a_statement_that_is_not_cancelled_returns_its_result() -> None:
    async def statement() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await run_to_completion(statement()) == "done"


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [("0001-01-01", "0001-01-31", "from"), ("9999-12-01", "9999-12-31", "to")],
)
async def test_analytics_days_beyond_the_calendar_are_bad_input_for_every_measure(
    client_for: ClientFactory, start: str, end: str, field: str
) -> None:
    analyst_client = client_for(Role.ANALYST)
    for name, selection in MEASURES.items():
        body = await gql(
            analyst_client,
            f'{{ analytics {{ {name}(from: "{start}", to: "{end}") {selection} }} }}',
        )
        assert error_codes(body) == ["BAD_USER_INPUT"], (name, body)
        assert body["errors"][0]["extensions"]["field"] == field, (name, body)
