"""Merged-away profile ids as aliases, on both databases: staff lookups and service writes by
an old id reach the survivor (through chains of merges), the audit names both ids, and an
erased survivor is reached by no alias."""

from __future__ import annotations

import httpx
import pytest

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.audit_log import audit_rows
from tests.support.erasure_calls import officer, request_erasure
from tests.support.people import MINI, OFFICIAL, link
from tests.support.purchases import RECORD, order_input

# The core flows run on a Citus cluster too (tests/support/citus.py).
pytestmark = pytest.mark.citus

LOOKUP = 'query L($id: ID) { profile(id: $id, purpose: "ticket T-7") { id points { balance } } }'
EARN = "mutation E($input: EarnPointsInput!) { earnPoints(input: $input) { balanceAfter } }"
TAG = "mutation T($input: TagProfileInput!) { tagProfile(input: $input) { id } }"
APPROVE = "mutation A($input: ApproveErasureInput!) { approveErasure(input: $input) { status } }"
CHANNELS = "wx3333333333333333"


async def chain(service: httpx.AsyncClient) -> tuple[str, str, str]:
    """Three profiles of one person merged in two steps: the newest into the middle one, then
    the middle one into the oldest. Their ids, oldest first."""
    oldest = await link(service, "MINI_PROGRAM", MINI, "oMini_alias_000000000000000001")
    middle = await link(service, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_alias_000000000000000001")
    union = "oUnion_alias_0000000000000001"
    newest = await link(service, "CHANNELS", CHANNELS, "oChan_alias_000000000000000001", union)
    first = await link(
        service, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_alias_000000000000000001", union
    )
    assert first["id"] == middle["id"]
    second = await link(service, "MINI_PROGRAM", MINI, "oMini_alias_000000000000000001", union)
    assert second["id"] == oldest["id"] and len(second["identities"]) == 3
    return oldest["id"], middle["id"], newest["id"]


async def test_a_merged_away_id_reaches_the_final_survivor_of_a_chain(
    service_client: httpx.AsyncClient, support_client: httpx.AsyncClient
) -> None:
    survivor, middle, newest = await chain(service_client)
    for old in (middle, newest):
        body = await gql(support_client, LOOKUP, {"id": old})
        assert body["data"]["profile"]["id"] == survivor, body


async def test_service_writes_by_an_old_id_land_on_the_survivor(
    service_client: httpx.AsyncClient, support_client: httpx.AsyncClient
) -> None:
    survivor, middle, newest = await chain(service_client)
    earn = {"profileId": newest, "points": 120, "idempotencyKey": "alias-earn-1"}
    earned = await gql(service_client, EARN, {"input": earn})
    assert earned["data"]["earnPoints"]["balanceAfter"] == 120, earned
    tagged = await gql(service_client, TAG, {"input": {"profileId": middle, "tag": "vip-lead"}})
    assert "errors" not in tagged, tagged
    order = await gql(service_client, RECORD, {"input": order_input(newest, "WX-ALIAS-1")})
    assert "errors" not in order, order
    body = await gql(support_client, LOOKUP, {"id": survivor})
    assert body["data"]["profile"]["points"] == {"balance": 120}


async def test_the_audit_names_the_requested_and_the_resolved_id(
    service_client: httpx.AsyncClient, support_client: httpx.AsyncClient, database: Database
) -> None:
    survivor, _, newest = await chain(service_client)
    await gql(support_client, LOOKUP, {"id": newest})
    earn = {"profileId": newest, "points": 5, "idempotencyKey": "alias-earn-2"}
    await gql(service_client, EARN, {"input": earn})
    aliases = [r for r in await audit_rows(database) if r["action"] == "profile.alias"]
    assert [r["actor_role"] for r in aliases] == ["support", "service"]
    for record in aliases:
        assert record["detail"] == {"requestedId": newest, "resolvedId": survivor}
        assert record["profile_id"] is not None


async def test_a_survivors_own_id_is_not_recorded_as_an_alias(
    service_client: httpx.AsyncClient, support_client: httpx.AsyncClient, database: Database
) -> None:
    survivor, _, _ = await chain(service_client)
    await gql(support_client, LOOKUP, {"id": survivor})
    assert not [r for r in await audit_rows(database) if r["action"] == "profile.alias"]


async def test_an_erased_survivor_is_reached_by_no_alias(
    service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    survivor, middle, newest = await chain(service_client)
    opened = await request_erasure(officer(client_for, "a"), survivor)
    done = await gql(officer(client_for, "b"), APPROVE, {"input": {"requestId": opened["id"]}})
    assert done["data"]["approveErasure"]["status"] == "COMPLETED", done
    support = client_for(Role.SUPPORT)
    answers = []
    for pid in (survivor, middle, newest):
        earn = {"profileId": pid, "points": 1, "idempotencyKey": f"after-{pid}"}
        written = await gql(service_client, EARN, {"input": earn})
        looked = await gql(support, LOOKUP, {"id": pid})
        answers.append((error_codes(written), looked))
    assert answers[0][0] == ["SUPPRESSED"]
    assert answers[1] == answers[2] == answers[0]
