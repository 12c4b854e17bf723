"""Compliance calls (request, approve, list, lift, export, erase) and what a person looks like."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.erasure_people import Person, ok, ok_query
from tests.support.erasure_storage import internal_id, orders_of, rows_of, select_all, table
from tests.support.people import MINI, OFFICIAL

REQUEST_FIELDS = """
  id profileSurrogateId mode status reason requestedBy requestedAt dueAt approvedBy approvedAt
  completedAt step receipt
"""
REQUEST = f"""
mutation Request($input: RequestErasureInput!) {{
  requestErasure(input: $input) {{ {REQUEST_FIELDS} }}
}}
"""
APPROVE = f"""
mutation Approve($input: ApproveErasureInput!) {{
  approveErasure(input: $input) {{ {REQUEST_FIELDS} }}
}}
"""
LIST = """
query List($status: ErasureStatus, $first: Int! = 20, $after: String) {
  erasureRequests(status: $status, first: $first, after: $after) {
    items { id status mode requestedBy approvedBy step }
    pageInfo { endCursor hasNextPage }
  }
}
"""
LIFT = """
mutation Lift($input: LiftSuppressionInput!) { liftSuppression(input: $input) { kind lifted } }
"""
EXPORT = """
mutation Export($input: ExportProfileInput!) { exportProfile(input: $input) { document } }
"""
REASON = "ticket CS-7781 (PIPL Art. 47)"
MODES = ["DELETE", "ANONYMIZE"]


def officer(client_for: ClientFactory, name: str) -> httpx.AsyncClient:
    return client_for(Role.COMPLIANCE, subject=f"officer-{name}")


async def request_erasure(
    officer_a: httpx.AsyncClient, profile_id: str, mode: str = "DELETE"
) -> dict[str, Any]:
    given = {"profileId": profile_id, "mode": mode, "reason": REASON}
    return await ok(officer_a, REQUEST, given)  # type: ignore[no-any-return]


async def erase(client_for: ClientFactory, person: Person, mode: str) -> dict[str, Any]:
    """Officer A requests, officer B approves; the completed request."""
    opened = await request_erasure(officer(client_for, "a"), person.id, mode)
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED", done
    return done  # type: ignore[no-any-return]


ME = """
{
  me {
    id tier unionId phone name birthday address { province city district street }
    identities { channel appId openId linkedAt }
    points { balance history { items { id kind points balanceAfter createdAt } } }
    coupons { items { id title status redeemedAt redeemedChannel } }
    orders {
      items {
        id externalId status totalFen paidAt
        items { sku quantity unitPriceFen } shippingAddress { province city district street }
      }
    }
    tags { items { name source taggedAt } }
    consents {
      current { purpose channel granted explicit noticeVersion updatedAt }
      history { items { purpose channel granted changedAt } }
    }
  }
}
"""
LOOKUP = """
query Look($id: ID, $unionId: String, $openId: String, $appId: String, $phone: String) {
  profile(purpose: "ticket CS-7781", id: $id, unionId: $unionId, openId: $openId, appId: $appId,
          phone: $phone) { id }
}
"""


async def snapshot(person: Person) -> dict[str, Any]:
    body = await gql(person.customer, ME)
    assert "errors" not in body, body
    return body["data"]["me"]  # type: ignore[no-any-return]


def lookups(person: Person) -> list[dict[str, str]]:
    """Every way to name the person in a `profile` lookup."""
    s = person.spec
    return [
        {"id": person.id},
        {"id": person.merged_id},
        {"unionId": s.union_id},
        {"openId": s.mini_open_id},
        {"openId": s.mini_open_id, "appId": MINI},
        {"openId": s.official_open_id},
        {"openId": s.official_open_id, "appId": OFFICIAL},
        {"phone": s.phone},
        {"phone": s.e164},
    ]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


BY_TAG = "query ByTag($tag: String!) { profilesByTag(tag: $tag) { items { id } } }"


async def assert_found_nowhere(client_for: ClientFactory, person: Person) -> None:
    """No lookup by any identifier finds the person, for any role that may look."""
    for client in (client_for(Role.SERVICE), client_for(Role.SUPPORT), officer(client_for, "c")):
        for given in lookups(person):
            body = await gql(client, LOOKUP, given)
            assert body == {"data": {"profile": None}}, (given, body)
    body = await gql(person.customer, "{ me { id } }")
    assert error_codes(body) == ["NOT_FOUND"], body
    for tag in person.spec.tags():
        assert await ok_query(client_for(Role.SERVICE), BY_TAG, {"tag": tag}) == {"items": []}


async def assert_found_everywhere(client_for: ClientFactory, person: Person) -> None:
    for client in (client_for(Role.SERVICE), client_for(Role.SUPPORT), officer(client_for, "c")):
        for given in lookups(person):
            assert await ok_query(client, LOOKUP, given) == {"id": person.id}, given


def suppressed(body: dict[str, Any]) -> bool:
    return error_codes(body) == ["SUPPRESSED"] and all(v is None for v in body["data"].values())


@dataclass
class Erased:
    profile_id: int  # the internal surrogate id
    seeded: dict[str, int]
    orders_before: dict[str, dict[str, Any]]
    profile_before: dict[str, Any]
    request: dict[str, Any]


async def erase_anna(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> Erased:
    anna, _ = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    orders_before = await orders_of(database, anna.spec)
    [profile_before] = await select_all(database, "profiles", table("profiles").c.id == profile_id)
    done = await erase(client_for, anna, mode)
    return Erased(profile_id, seeded, orders_before, profile_before, done)
