"""Executing an erasure: it converges when rerun after a crash at any step, follows merges,
accounts for every table with a profile id, and leaves no cache serving what it erased (both
databases)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.erasure import execution, purge
from cdp.erasure.execution import STEPS
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.models import metadata
from cdp.suppression.models import ErasureRequest, ErasureStatus
from cdp.unit_of_work import operator_trail
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, gql
from tests.support.erasure_calls import (
    APPROVE,
    LIST,
    LOOKUP,
    MODES,
    assert_found_nowhere,
    officer,
    request_erasure,
    snapshot,
    suppressed,
)
from tests.support.erasure_people import (
    ANNA,
    EARN,
    LINK_ID,
    RECORD_ORDER,
    UPDATE_PROFILE,
    Person,
    ok,
    ok_query,
    order_input,
)
from tests.support.erasure_storage import (
    ERASURE_ACTIONS,
    PROFILE_TABLES,
    assert_nothing_stored,
    audit_rows,
    expected_purge,
    internal_id,
    is_erasure,
    rows_of,
    select_all,
    table,
    table_counts,
)
from tests.support.people import CHANNELS_APP, MINI, OFFICIAL, link
from tests.support.sealing import sealed_verdict

# The tests marked `citus` run on a Citus cluster too (tests/support/citus.py).
CITUS = pytest.mark.citus

# --- a resumable execution -----------------------------------------------------------------------


def previous(step: str) -> str:
    index = STEPS.index(step)
    return STEPS[index - 1] if index else "requested"


def crash_once(monkeypatch: pytest.MonkeyPatch, step: str, when: str = "before") -> list[str]:
    """Make `step` die once, before or after doing its work; the calls made to it."""
    real = execution.RUN[step]
    calls: list[str] = []

    async def crashing(
        session: AsyncSession, vault: Vault, request: ErasureRequest
    ) -> dict[str, Any]:
        calls.append(step)
        if len(calls) == 1:
            if when == "after":
                await real(session, vault, request)
            raise RuntimeError(f"the process died {when} {step}")
        return await real(session, vault, request)

    monkeypatch.setitem(execution.RUN, step, crashing)
    return calls


async def approve_and_crash(
    client_for: ClientFactory, database: Database, person: Person, mode: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Request and approve an erasure that crashes; the request and its stored row."""
    opened = await request_erasure(officer(client_for, "a"), person.id, mode)
    body = await gql(officer(client_for, "b"), APPROVE, {"input": {"requestId": opened["id"]}})
    assert error_codes(body) == ["INTERNAL"], body
    [stuck] = await select_all(
        database, "erasure_requests", table("erasure_requests").c.public_id == opened["id"]
    )
    return opened, stuck


async def rerun(database: Database, request_id: int) -> ErasureRequest:
    """What an operator does after a crash: run the remaining steps."""
    keystore = KeyStore(database.settings)
    try:
        return await execution.execute_erasure(
            database,
            KeyringSource.fixed(TEST_KEYRING),
            keystore=keystore,
            request_id=request_id,
            trail=lambda: operator_trail(TEST_KEYRING, "rerun"),
        )
    finally:
        await keystore.dispose()


CRASHES = [
    *((step, when, "DELETE") for step in STEPS for when in ("before", "after")),
    # The mode changes what purging and verifying do.
    *((step, when, "ANONYMIZE") for step in ("purge", "verify") for when in ("before", "after")),
]


@CITUS
@pytest.mark.parametrize(("step", "when", "mode"), CRASHES)
async def test_an_erasure_that_crashes_at_any_step_converges_when_rerun(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    when: str,
    mode: str,
) -> None:
    """The step crashes once, before or after doing its work (in its transaction); a rerun
    picks up where it stopped and ends as an uninterrupted run does."""
    anna, bystander = people
    profile_id = await internal_id(database, anna.id)
    seeded = await rows_of(database, profile_id)
    seen_bystander = await snapshot(bystander)
    calls = crash_once(monkeypatch, step, when)
    opened, stuck = await approve_and_crash(client_for, database, anna, mode)
    assert (str(stuck["status"]), stuck["step"]) == ("EXECUTING", previous(step))

    done = await rerun(database, stuck["id"])
    assert calls == [step, step]
    assert done.status is ErasureStatus.COMPLETED and done.step == "complete"
    receipt = done.receipt
    assert list(receipt) == list(STEPS)
    assert receipt["collect"] == {
        "identifiers": {"publicIds": 2, "union": 1, "phone": 1, "openIds": 2}
    }
    assert receipt["suppress"] == {"suppressions": 6}
    # The key store commits on its own: a shred that crashed after destroying the keys left
    # none for the rerun to count (they are gone either way, as the scan checks).
    shredded = 0 if (step, when) == ("shred", "after") else seeded["data_keys"]
    assert receipt["shred"] == {"data_keys": shredded}
    assert receipt["purge"] == expected_purge(seeded, mode)
    assert receipt["verify"]["clean"] is True
    assert (receipt["complete"]["requestedBy"], receipt["complete"]["approvedBy"]) == (
        "officer-a",
        "officer-b",
    )
    await assert_nothing_stored(database, settings, backend, anna, profile_id)
    await assert_found_nowhere(client_for, anna)
    assert await snapshot(bystander) == seen_bystander
    listed = await ok_query(officer(client_for, "a"), LIST, {"status": "COMPLETED"})
    assert [r["id"] for r in listed["items"]] == [opened["id"]]
    # Each step is recorded once: the crashed attempt's record went with its transaction.
    erasure = [r for r in await audit_rows(database) if is_erasure(r)]
    assert [r["action"] for r in erasure] == ERASURE_ACTIONS
    crashed_at = 2 + STEPS.index(step)
    assert [r["actor_subject"] for r in erasure] == (
        ["officer-a"] + ["officer-b"] * (crashed_at - 1) + ["rerun"] * (8 - crashed_at)
    )
    assert (await sealed_verdict(database)).intact


LATE_OPEN_ID = "oChanLinkedLate000000000001"


async def test_an_open_id_that_was_the_persons_when_purged_ends_suppressed(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna, _ = people
    crash_once(monkeypatch, "suppress")
    _, stuck = await approve_and_crash(client_for, database, anna, "DELETE")
    service = client_for(Role.SERVICE)
    late = {"channel": "CHANNELS", "appId": CHANNELS_APP, "openId": LATE_OPEN_ID}
    linked = await gql(service, LINK_ID, {"input": {**late, "unionId": ANNA.union_id}})
    # Refused while the erasure runs (nothing is written to a person being erased), or
    # linked to them before: either way the person comes back under no identifier.
    assert (
        suppressed(linked)
        if "errors" in linked
        else (linked["data"]["linkIdentity"]["id"] == anna.id)
    ), linked
    done = await rerun(database, stuck["id"])
    assert done.status is ErasureStatus.COMPLETED
    counts = await table_counts(database)
    for given in ({**late, "unionId": ANNA.union_id}, *([] if "errors" in linked else [late])):
        body = await gql(service, LINK_ID, {"input": given})
        assert suppressed(body), body
    assert await table_counts(database) == counts, "no profile was recreated"


async def test_a_write_after_the_shred_does_not_stop_the_erasure_converging(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna, _ = people
    profile_id = await internal_id(database, anna.id)
    crash_once(monkeypatch, "purge")
    _, stuck = await approve_and_crash(client_for, database, anna, "DELETE")
    late_order = {**order_input(ANNA, anna.id, 0), "externalId": "anna-while-erasing"}
    await gql(anna.customer, UPDATE_PROFILE, {"input": {"phone": "13700006666"}})
    await gql(client_for(Role.SERVICE), RECORD_ORDER, {"input": late_order})
    for _ in range(2):  # an operator may well try twice
        try:
            done = await rerun(database, stuck["id"])
            break
        except execution.ErasureIncomplete:
            done = None
    assert done is not None and done.status is ErasureStatus.COMPLETED
    assert done.receipt["verify"]["clean"] is True
    assert (
        await select_all(database, "data_keys", table("data_keys").c.profile_id == profile_id) == []
    )
    assert await ok_query(client_for(Role.SUPPORT), LOOKUP, {"phone": "13700006666"}) is None
    for row in await select_all(
        database, "orders", table("orders").c.external_id == "anna-while-erasing"
    ):
        assert row["shipping_address_ct"] is None and row["profile_id"] is None


@CITUS
@pytest.mark.parametrize("mode", MODES)
async def test_an_erasure_follows_the_person_into_the_profile_they_were_merged_into(
    service_client: httpx.AsyncClient, client_for: ClientFactory, mode: str
) -> None:
    official_open_id, mini_open_id = "oOffiMergedLater00000000001", "oMiniMergedLater00000000001"
    union_id, phone = "oUnionMergedLater0000000001", "13700008888"
    older = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, official_open_id)
    newer = await link(service_client, "MINI_PROGRAM", MINI, mini_open_id, union_id)
    customer = client_for(Role.CUSTOMER, subject=newer["id"])
    await ok(customer, UPDATE_PROFILE, {"phone": phone, "name": "上官后合并"})
    opened = await request_erasure(officer(client_for, "a"), newer["id"], mode)
    merged = await link(service_client, "OFFICIAL_ACCOUNT", OFFICIAL, official_open_id, union_id)
    assert merged["id"] == older["id"] and len(merged["identities"]) == 2
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED" and done["receipt"]["verify"]["clean"] is True
    assert done["receipt"]["purge"]["identities"] == 2
    for given in (
        {"unionId": union_id},
        {"openId": mini_open_id},
        {"openId": official_open_id},
        {"phone": phone},
        {"id": newer["id"]},
        {"id": older["id"]},
    ):
        assert await ok_query(client_for(Role.SERVICE), LOOKUP, given) is None, given


# --- every table is accounted for ----------------------------------------------------------------

NAMED = {purge.table_of(m).name for m in (*purge.PURGED, *purge.KEPT)} | set(purge.SPECIAL)
WITH_PROFILE_ID = sorted(name for name, t in metadata.tables.items() if "profile_id" in t.c)


def test_the_tables_holding_a_profile_id_are_the_known_ones() -> None:
    in_database = [t for t in PROFILE_TABLES if t != "data_keys"]  # that one: the key store
    assert sorted([*in_database, "audit_events", "erasure_requests"]) == WITH_PROFILE_ID, (
        "a new table holds a profile_id: name it in cdp.erasure.purge and in PROFILE_TABLES"
    )


@pytest.mark.parametrize("name", WITH_PROFILE_ID)
def test_every_table_with_a_profile_id_is_purged_kept_or_special(name: str) -> None:
    assert name in NAMED


# --- caches --------------------------------------------------------------------------------------

SAME_REQUEST = """
mutation Same($requestId: ID!, $profileId: ID!) {
  before: exportProfile(input: {profileId: $profileId, purpose: "before"}) { document }
  approveErasure(input: {requestId: $requestId}) { status }
  after: exportProfile(input: {profileId: $profileId, purpose: "after"}) { document }
  again: requestErasure(input: {profileId: $profileId, mode: DELETE, reason: "again"}) { id }
}
"""


@CITUS
@pytest.mark.parametrize("mode", MODES)
async def test_nothing_erased_is_served_later_in_the_same_request_or_process(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    """earnPoints is not open to compliance, so the later fields are the compliance ones that
    read or name the person: exportProfile and requestErasure."""
    anna, _ = people
    opened = await request_erasure(officer(client_for, "a"), anna.id, mode)
    officer_b = officer(client_for, "b")
    body = await gql(officer_b, SAME_REQUEST, {"requestId": opened["id"], "profileId": anna.id})
    assert body["data"]["before"]["document"]["profile"]["phone"] == ANNA.phone
    assert body["data"]["approveErasure"] == {"status": "COMPLETED"}
    assert body["data"]["after"] is None and body["data"]["again"] is None
    assert sorted((e["path"][0], e["extensions"]["code"]) for e in body["errors"]) == [
        ("after", "SUPPRESSED"),
        ("again", "SUPPRESSED"),
    ]
    assert ANNA.phone not in json.dumps(body["errors"])
    assert await ok_query(officer_b, LOOKUP, {"id": anna.id}) is None
    earn = {"profileId": anna.id, "points": 10, "idempotencyKey": "same-process"}
    assert suppressed(await gql(client_for(Role.SERVICE), EARN, {"input": earn}))
