"""After DELETE and after ANONYMIZE nothing of the person is found, stored or logged: no
lookup, no value or blind index, no free page or WAL byte, kept orders without personal fields,
the other person untouched, an audit log without personal values (both databases)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.erasure.execution import STEPS
from tests.conftest import ClientFactory
from tests.support.erasure_calls import (
    APPROVE,
    LOOKUP,
    MODES,
    assert_found_everywhere,
    assert_found_nowhere,
    erase_anna,
    officer,
    request_erasure,
    snapshot,
)
from tests.support.erasure_people import EARN, Person, ok, ok_query
from tests.support.erasure_storage import (
    ERASURE_ACTIONS,
    PERSONAL_COLUMNS,
    PROFILE_TABLES,
    assert_nothing_stored,
    audit_rows,
    audit_text,
    expected_purge,
    hashes_of,
    internal_id,
    is_erasure,
    orders_of,
    rows_of,
    select_all,
    table,
    where_stored,
)
from tests.support.people import MINI, link
from tests.support.raw_bytes import raw_sqlite_bytes
from tests.support.sealing import sealed_verdict

# --- after DELETE and after ANONYMIZE ------------------------------------------------------------


async def items_of(database: Database, order_ids: list[int]) -> list[tuple[Any, ...]]:
    rows = await select_all(database, "order_items", table("order_items").c.order_id.in_(order_ids))
    return sorted((r["order_id"], r["sku"], r["quantity"], r["unit_price_fen"]) for r in rows)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_no_lookup_by_any_identifier_finds_the_person(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, bystander = people
    await assert_found_everywhere(client_for, anna)
    await erase_anna(people, client_for, database, mode)
    await assert_found_nowhere(client_for, anna)
    await assert_found_everywhere(client_for, bystander)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_database_holds_no_personal_value_or_blind_index_of_the_person(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    mode: str,
) -> None:
    anna, _ = people
    hashes = hashes_of(anna)
    before = await where_stored(database, hashes)
    assert {"profiles.phone_bidx: phone", "profiles.union_id_bidx: union"} <= set(before)
    assert {
        "identities.open_id_bidx: mini open_id",
        "identities.open_id_bidx: official open_id",
    } <= set(before)
    erased = await erase_anna(people, client_for, database, mode)
    await assert_nothing_stored(database, settings, backend, anna, erased.profile_id)
    # By design the suppression list holds the hashes (and nothing else of the person).
    kept = await where_stored(database, hashes)
    assert kept == sorted(f"suppressions.bidx: {what}" for what in hashes)


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_sqlite_s_free_pages_and_wal_hold_no_byte_of_the_person(
    people: tuple[Person, Person],
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
    mode: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own file and write-ahead log")
    anna, bystander = people
    # Someone who never acted themselves: their public id is in no audit record (a
    # customer's own actions name them as the actor, which the audit log keeps).
    linked = await link(service_client, "MINI_PROGRAM", MINI, "oCarolNeverSignedIn00001")
    carol = str(linked["id"])
    assert carol.encode() in raw_sqlite_bytes(settings), "public ids are stored in the clear"
    opened = await request_erasure(officer(client_for, "a"), carol, mode)
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED"
    await erase_anna(people, client_for, database, mode)
    stored = raw_sqlite_bytes(settings)
    assert bystander.id.encode() in stored, "the scan must see the live rows"
    for value in (carol, "oCarolNeverSignedIn00001", anna.merged_id, *anna.canaries()):
        assert value.encode() not in stored, f"{value} left in the file or its WAL"
    wal = Path(f"{settings.database_url.split('///', 1)[1]}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL is checkpointed and truncated"


async def test_after_erasure_the_sqlite_key_store_s_file_and_wal_hold_no_byte_of_the_keys(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    settings: Settings,
    backend: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's own file and write-ahead log")
    anna, bystander = people
    path = Path(settings.keystore_database_url.split("///", 1)[1])

    def wrapped_keys(person_id: int) -> list[bytes]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT wrapped FROM data_keys WHERE profile_id = ?", (person_id,))
            return [bytes(r[0]) for r in rows]

    def stored() -> bytes:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())

    anna_keys = wrapped_keys(await internal_id(database, anna.id))
    kept = wrapped_keys(await internal_id(database, bystander.id))
    assert anna_keys and kept and all(k in stored() for k in anna_keys)
    await erase_anna(people, client_for, database, "DELETE")
    after = stored()
    assert all(k in after for k in kept), "the scan must see the live keys"
    assert not [k for k in anna_keys if k in after], "a shredded key left in the file or WAL"


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_kept_orders_hold_no_personal_field(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    erased = await erase_anna(people, client_for, database, mode)
    before = erased.orders_before
    assert all(row["shipping_address_ct"] for row in before.values()), "seeded with addresses"
    after = await orders_of(database, anna.spec)
    assert sorted(after) == sorted(before), "orders stay for accounting"
    accounting = (
        "public_id",
        "channel",
        "status",
        "items_fen",
        "discount_fen",
        "shipping_fen",
        "total_fen",
        "paid_at",
        "entry_from",
        "entry_params",
    )
    for external_id, row in after.items():
        assert {k: row[k] for k in accounting} == {k: before[external_id][k] for k in accounting}
        assert row["shipping_address_ct"] is None
    ids = [row["id"] for row in after.values()]
    assert len(await items_of(database, ids)) == 4, "line items stay"
    if mode == "DELETE":
        tombstones = {row["buyer_tombstone"] for row in after.values()}
        assert all(row["profile_id"] is None for row in after.values())
        assert len(tombstones) == 1 and None not in tombstones
        assert tombstones != {anna.id} and tombstones != {anna.merged_id}
        assert (
            await select_all(database, "profiles", table("profiles").c.id == erased.profile_id)
            == []
        )
    else:
        assert all(row["profile_id"] == erased.profile_id for row in after.values())
        [profile] = await select_all(
            database, "profiles", table("profiles").c.id == erased.profile_id
        )
        assert {c: profile[c] for c in PERSONAL_COLUMNS} == dict.fromkeys(PERSONAL_COLUMNS)
        assert all(erased.profile_before[c] is not None for c in PERSONAL_COLUMNS), "seeded"
        assert profile["public_id"] not in (anna.id, anna.merged_id)
        assert profile["tier"] == erased.profile_before["tier"], "kept for aggregates"
        events = await select_all(
            database, "events", table("events").c.profile_id == erased.profile_id
        )
        assert len(events) == 3 and all(e["properties"] == {} for e in events)
        for name in PROFILE_TABLES:
            if name not in ("orders", "events"):
                assert (
                    await select_all(database, name, table(name).c.profile_id == erased.profile_id)
                    == []
                ), name


@pytest.mark.parametrize("mode", MODES)
async def test_after_erasure_the_other_person_is_untouched_and_still_readable(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    _, bystander = people
    their_id = await internal_id(database, bystander.id)
    rows_before = await rows_of(database, their_id)
    seen_before = await snapshot(bystander)
    assert (
        seen_before["phone"] == bystander.spec.phone and seen_before["name"] == bystander.spec.name
    )
    await erase_anna(people, client_for, database, mode)
    assert await rows_of(database, their_id) == rows_before
    assert await snapshot(bystander) == seen_before
    staff = await ok_query(
        client_for(Role.SERVICE),
        LOOKUP.replace("{ id }", "{ id unionId identities { openId } }"),
        {"id": bystander.id},
    )
    assert staff["unionId"] == bystander.spec.union_id
    assert len(staff["identities"]) == 2
    await ok(
        client_for(Role.SERVICE),
        EARN,
        {"profileId": bystander.id, "points": 5, "idempotencyKey": "bob-after"},
    )


@pytest.mark.parametrize("mode", MODES)
async def test_the_audit_log_records_request_approval_steps_and_execution_without_personal_values(
    people: tuple[Person, Person], client_for: ClientFactory, database: Database, mode: str
) -> None:
    anna, _ = people
    erased = await erase_anna(people, client_for, database, mode)
    rows = await audit_rows(database)
    erasure = [r for r in rows if is_erasure(r)]
    assert [r["action"] for r in erasure] == ERASURE_ACTIONS
    assert all(r["outcome"] == "ok" for r in erasure), erasure
    assert all(r["profile_id"] == erased.profile_id for r in erasure)
    assert all(r["detail"]["request"] == erased.request["id"] for r in erasure)
    assert [r["actor_subject"] for r in erasure] == ["officer-a"] + ["officer-b"] * 7
    assert all(r["actor_role"] == "compliance" for r in erasure)
    steps = {r["detail"]["step"]: r["detail"].get("result") for r in erasure[2:]}
    assert list(steps) == list(STEPS)
    assert steps["purge"] == expected_purge(erased.seeded, mode)
    hashes = hashes_of(anna)
    for row in rows:
        text = audit_text(row)
        for canary in anna.canaries():
            assert canary not in text, (canary, row["action"])
        for h in hashes.values():
            assert h.hex() not in text, row["action"]
    assert (await sealed_verdict(database)).intact
