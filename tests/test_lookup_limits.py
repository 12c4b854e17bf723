"""Staff lookups one profile at a time: one `profile` per operation for support and compliance,
a cap on their lookups that find nobody (shared by every worker), and the enumeration pattern
visible to compliance in the audit log (both databases)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from graphql import parse
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode
from sqlmodel import col

from cdp.app import create_app
from cdp.audit.actions import AuditAction
from cdp.audit.models import AuditEvent
from cdp.auth import Role, issue_token
from cdp.db import Database, utcnow
from cdp.graphql.lookup_limit import root_lookups
from cdp.keys.source import KeyringSource
from cdp.keys.vault import Vault
from cdp.lookups.models import LookupMiss
from cdp.profiles import service
from tests.conftest import TEST_KEYRING, audited, make_settings
from tests.support.people import MINI, link

STAFF = [Role.SUPPORT, Role.COMPLIANCE]
FIND = 'query Find($phone: String) { profile(phone: $phone, purpose: "工单 #88") { id phone } }'
EVENTS = """
query Events($action: AuditAction) {
  auditEvents(first: 100, action: $action) {
    items { actorSubject actorRole action purpose outcome detail }
  }
}
"""
KNOWN_PHONE = "13800009694"
MISSES: sa.Table = LookupMiss.__table__  # type: ignore[attr-defined]


def masked_neighbour(n: int) -> str:
    """Numbers support would see as 130****9694: the hidden middle is what an attack tries."""
    return f"130{n:04d}9694"


Worker = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def worker(database_url: str) -> AsyncIterator[Worker]:
    """`worker(role, subject=..., **settings)`: a client of its own app and engine on the
    test's database, as a separate worker process would be."""
    opened: list[tuple[httpx.AsyncClient, Database]] = []

    def make(role: Role, subject: str | None = None, **overrides: Any) -> httpx.AsyncClient:
        settings = make_settings(database_url, **overrides)
        database = Database(settings)
        app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
        token = issue_token(settings, role=role, subject=subject or f"{role.value}-test")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )
        opened.append((client, database))
        return client

    yield make
    for client, database in opened:
        await client.aclose()
        await database.dispose()


async def find(client: httpx.AsyncClient, phone: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": FIND, "variables": {"phone": phone}})


def refused_for_misses(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["data"] == {"profile": None}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "lookupMisses"}
    assert error["path"] == ["profile"]


async def miss(client: httpx.AsyncClient, n: int) -> None:
    response = await find(client, masked_neighbour(n))
    assert response.json() == {"data": {"profile": None}}, response.text


async def audit_events(
    compliance: httpx.AsyncClient, action: str, actor: str | None = None
) -> list[dict[str, Any]]:
    response = await compliance.post(
        "/graphql", json={"query": EVENTS, "variables": {"action": AuditAction(action).name}}
    )
    body = response.json()
    assert "errors" not in body, body
    items: list[dict[str, Any]] = body["data"]["auditEvents"]["items"]
    return [item for item in items if actor is None or item["actorSubject"] == actor]


@pytest.fixture
async def known(worker: Worker, database: Database, vault: Vault) -> str:
    """A person whose phone is KNOWN_PHONE; their public id."""
    linked = await link(
        worker(Role.SERVICE), "MINI_PROGRAM", MINI, "oMini_lookup_limit_00000001", None
    )
    async with audited(database) as session:
        profile = await service.get_profile(session=session, public_id=linked["id"])
        assert profile is not None
        await service.update_personal_fields(
            session=session,
            vault=vault,
            profile=profile,
            phone=KNOWN_PHONE,
        )
    return str(linked["id"])


# --- one profile per operation -------------------------------------------------------------


def aliased_lookups(count: int) -> str:
    return (
        "{ "
        + " ".join(
            f'p{n}: profile(phone: "{masked_neighbour(n)}", purpose: "工单 #88") {{ id }}'
            for n in range(count)
        )
        + " }"
    )


@pytest.mark.parametrize("role", STAFF)
async def test_fifteen_aliased_phone_lookups_in_one_operation_are_refused_for_staff(
    worker: Worker, database: Database, role: Role
) -> None:
    response = await worker(role).post("/graphql", json={"query": aliased_lookups(15)})
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body  # refused before anything ran: no lookup at all
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "lookups"}
    assert "look up 1 profile" in error["message"] and "15" in error["message"]
    async with database.transaction() as session:
        rows = (await session.scalars(sa.select(AuditEvent))).all()
        misses = await session.scalar(sa.select(sa.func.count()).select_from(MISSES))
    [record] = [row for row in rows if row.actor_role == role.value]
    assert (record.action, record.outcome) == ("profile.lookup", "query_too_complex")
    assert record.detail == {"limit": "lookups", "lookups": 15}
    assert misses == 0


@pytest.mark.parametrize("role", STAFF)
async def test_lookups_hidden_in_fragments_and_inline_fragments_are_counted(
    worker: Worker, role: Role
) -> None:
    query = """
      query { ...Two ... on Query { c: profile(id: "c", purpose: "t") { id } } }
      fragment Two on Query { a: profile(id: "a", purpose: "t") { id } ...One }
      fragment One on Query { b: profile(id: "b", purpose: "t") { id } }
    """
    response = await worker(role).post("/graphql", json={"query": query})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["limit"] == "lookups"
    assert "looks up 3" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("role", STAFF)
async def test_one_lookup_per_operation_is_allowed_also_when_selected_twice_under_one_key(
    worker: Worker, known: str, role: Role
) -> None:
    query = f"""
      query {{ profile(id: "{known}", purpose: "t") {{ id }} ...F }}
      fragment F on Query {{ profile(id: "{known}", purpose: "t") {{ phone }} }}
    """
    body = (await worker(role).post("/graphql", json={"query": query})).json()
    assert body == {"data": {"profile": {"id": known, "phone": "138****9694"}}}


async def test_the_service_role_may_look_up_many_profiles_in_one_operation(
    worker: Worker,
) -> None:
    body = (await worker(Role.SERVICE).post("/graphql", json={"query": aliased_lookups(15)})).json()
    assert body == {"data": {f"p{n}": None for n in range(15)}}


async def test_the_validation_cache_keeps_each_roles_verdict_apart(worker: Worker) -> None:
    support, service_client = worker(Role.SUPPORT), worker(Role.SERVICE)
    document = {"query": aliased_lookups(2)}
    for _ in range(2):  # the second round is served from the validation cache
        assert (await support.post("/graphql", json=document)).status_code == 400
        body = (await service_client.post("/graphql", json=document)).json()
        assert body == {"data": {"p0": None, "p1": None}}


async def test_compliance_may_read_the_audit_log_beside_its_one_lookup(worker: Worker) -> None:
    query = '{ profile(id: "nobody", purpose: "t") { id } auditEvents(first: 1) { items { seq } } }'
    body = (await worker(Role.COMPLIANCE).post("/graphql", json={"query": query})).json()
    assert "errors" not in body and body["data"]["profile"] is None


def test_counting_lookups_expands_each_fragment_once() -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 paths, 40 fragments.
    depth = 40
    fragments = [
        f'fragment F{n} on Query {{ p{n}: profile(id: "x", purpose: "t") {{ id }}'
        f" ...F{n + 1} ... on Query {{ ...F{n + 1} }} }}"
        for n in range(depth)
    ]
    fragments.append(f'fragment F{depth} on Query {{ profile(id: "x", purpose: "t") {{ id }} }}')
    document = parse("query { ...F0 }\n" + "\n".join(fragments))
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    by_name = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    started = time.perf_counter()
    keys = root_lookups(operation.selection_set, by_name)
    assert time.perf_counter() - started < 0.5
    assert keys == {f"p{n}" for n in range(depth)} | {"profile"}


# --- the miss cap --------------------------------------------------------------------------


async def test_the_31st_miss_in_the_window_is_refused_and_compliance_sees_it(
    worker: Worker,
) -> None:
    support = worker(Role.SUPPORT)
    for n in range(30):
        await miss(support, n)
    refused_for_misses(await find(support, masked_neighbour(30)))
    compliance = worker(Role.COMPLIANCE, subject="compliance-officer")
    [throttled] = await audit_events(compliance, "lookup.throttled")
    assert throttled["actorSubject"] == "support-test"
    assert throttled["actorRole"] == "SUPPORT"
    assert throttled["outcome"] == "REFUSED"
    assert throttled["purpose"] == "工单 #88"
    detail = throttled["detail"]
    assert detail["limit"] == "lookupMisses" and detail["misses"] == 30
    assert detail["windowSeconds"] == 3600 and detail["key"] == "phone"
    not_found = await audit_events(compliance, "profile.lookup", "support-test")
    assert len(not_found) == 30 and {e["outcome"] for e in not_found} == {"NOT_FOUND"}
    flags = await audit_events(compliance, "lookup.enumeration_suspected")
    # Newest first: the 30th miss filled the budget; the 3rd was the third sharing 130****9694.
    assert [(f["actorSubject"], f["detail"]["reasons"]) for f in flags] == [
        ("support-test", ["misses"]),
        ("support-test", ["pattern"]),
    ]
    assert flags[0]["detail"]["misses"] == 30


@pytest.mark.parametrize("role", STAFF)
async def test_the_miss_cap_is_a_setting_and_counts_each_actor_apart(
    worker: Worker, role: Role
) -> None:
    first = worker(role, subject="agent-1", lookup_miss_limit=3)
    for n in range(3):
        await miss(first, n)
    refused_for_misses(await find(first, masked_neighbour(3)))
    await miss(worker(role, subject="agent-2", lookup_miss_limit=3), 4)


async def test_the_miss_cap_is_shared_by_two_workers_on_one_database(worker: Worker) -> None:
    one = worker(Role.SUPPORT, lookup_miss_limit=4)
    two = worker(Role.SUPPORT, lookup_miss_limit=4)
    for n in range(4):
        await miss((one, two)[n % 2], n)
    refused_for_misses(await find(one, masked_neighbour(4)))
    refused_for_misses(await find(two, masked_neighbour(5)))


async def test_concurrent_misses_on_two_workers_never_pass_the_cap(
    worker: Worker, database: Database
) -> None:
    one = worker(Role.SUPPORT, lookup_miss_limit=3)
    two = worker(Role.SUPPORT, lookup_miss_limit=3)
    await miss(one, 0)
    await miss(two, 1)
    responses = await asyncio.gather(
        *(find((one, two)[n % 2], masked_neighbour(10 + n)) for n in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] + [429] * 5
    async with database.transaction() as session:
        counted = await session.scalar(sa.select(sa.func.count()).select_from(MISSES))
    assert counted == 3


async def test_a_hit_after_the_cap_is_refused_like_a_miss_and_reads_nothing(
    worker: Worker, database: Database, known: str
) -> None:
    support = worker(Role.SUPPORT, lookup_miss_limit=2)
    for n in range(2):
        await miss(support, n)
    # Refused before the lookup runs: the refusal cannot tell a number that exists from one
    # that does not, and nothing of the person is read.
    refused_for_misses(await find(support, KNOWN_PHONE))
    async with database.transaction() as session:
        reads = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "pii.read", col(AuditEvent.actor_role) == "support")
        )
    assert reads == 0


async def test_lookups_work_again_once_the_misses_age_out_of_the_window(
    worker: Worker, database: Database, known: str
) -> None:
    support = worker(Role.SUPPORT, lookup_miss_limit=2)
    for n in range(2):
        await miss(support, n)
    refused_for_misses(await find(support, KNOWN_PHONE))
    async with database.transaction() as session:
        await session.execute(
            sa.update(MISSES).values(occurred_at=utcnow() - timedelta(seconds=3601))
        )
    body = (await find(support, KNOWN_PHONE)).json()
    assert body == {"data": {"profile": {"id": known, "phone": "138****9694"}}}
    await miss(support, 3)  # a fresh budget; the aged-out misses are pruned
    async with database.transaction() as session:
        left = await session.scalar(sa.select(sa.func.count()).select_from(MISSES))
    assert left == 1


async def test_hits_are_not_capped(worker: Worker, known: str) -> None:
    support = worker(Role.SUPPORT, lookup_miss_limit=2)
    for _ in range(5):
        body = (await find(support, KNOWN_PHONE)).json()
        assert body == {"data": {"profile": {"id": known, "phone": "138****9694"}}}


async def test_the_service_roles_misses_are_not_capped(worker: Worker, database: Database) -> None:
    service_client = worker(Role.SERVICE, lookup_miss_limit=2)
    query = 'query($p: String) { profile(phone: $p, purpose: "sync") { id } }'
    for n in range(5):
        response = await service_client.post(
            "/graphql", json={"query": query, "variables": {"p": masked_neighbour(n)}}
        )
        assert response.json() == {"data": {"profile": None}}, response.text
    async with database.transaction() as session:
        counted = await session.scalar(sa.select(sa.func.count()).select_from(MISSES))
    assert counted == 0


# --- the pattern, visible ------------------------------------------------------------------


async def test_misses_sharing_the_masked_digits_are_flagged_for_compliance(
    worker: Worker, database: Database
) -> None:
    support = worker(Role.SUPPORT)
    for n in range(3):
        await miss(support, n)
    await find(support, "13912340000")  # other visible digits: another pattern
    compliance = worker(Role.COMPLIANCE, subject="compliance-officer")
    misses = await audit_events(compliance, "profile.lookup", "support-test")
    patterns = [event["detail"]["pattern"] for event in misses]
    assert [event["detail"]["key"] for event in misses] == ["phone"] * 4
    assert len(set(patterns[1:])) == 1 and patterns[0] != patterns[1]  # newest first
    assert all(len(p) == 16 and int(p, 16) >= 0 for p in patterns)
    [flag] = await audit_events(compliance, "lookup.enumeration_suspected")
    assert flag["actorSubject"] == "support-test" and flag["outcome"] == "FLAGGED"
    assert flag["detail"]["reasons"] == ["pattern"]
    assert flag["detail"]["samePattern"] == 3 and flag["detail"]["pattern"] == patterns[1]
    async with database.transaction() as session:
        rows = (await session.scalars(sa.select(AuditEvent))).all()
    text = " ".join(f"{row.detail} {row.fields} {row.purpose}" for row in rows)
    for forbidden in ("9694", "130****", "1300000", "+86130", "13912340000", "1234"):
        assert forbidden not in text


async def test_a_miss_by_another_key_records_its_kind_and_no_pattern(worker: Worker) -> None:
    support = worker(Role.SUPPORT)
    response = await support.post(
        "/graphql",
        json={"query": '{ profile(unionId: "oUnion_nobody_000000000001", purpose: "t") { id } }'},
    )
    assert response.json() == {"data": {"profile": None}}
    compliance = worker(Role.COMPLIANCE, subject="compliance-officer")
    [event] = await audit_events(compliance, "profile.lookup", "support-test")
    assert event["detail"] == {"key": "unionId", "misses": 1}
