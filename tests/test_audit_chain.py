"""The audit log's hash chain, as the sealer links it: an untouched chain verifies; a modified,
deleted, inserted, reordered or truncated record is found and named; records not sealed yet are
reported; concurrent writers never fork it (both databases)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.audit import trail as audit
from cdp.audit.chain import GENESIS, link_hash
from cdp.audit.models import AuditEvent, AuditTreeHead
from cdp.audit.sealer import LogChanged, seal
from cdp.audit.verify import BATCH, Verdict, make_checkpoint, verify_chain
from cdp.auth import Role
from cdp.crypto import Keyring
from cdp.db import Database
from tests.conftest import (
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    ClientFactory,
    audited,
    gql,
)
from tests.support.people import MINI
from tests.support.sealing import sealed

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
HEADS = AuditTreeHead.__table__  # type: ignore[attr-defined]
KEY = TEST_KEYRING.audit_key
LINK_ID = "mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }"
# What a record says; its place (seq, and its leaf in the tree) stays where it is.
CONTENT = [column.name for column in AUDIT.columns if column.name not in ("seq", "leaf_index")]


# --- helpers -----------------------------------------------------------------------------------


async def rows(database: Database) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        result = await session.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))
        return [dict(row) for row in result.mappings()]


async def execute(database: Database, *statements: Any) -> None:
    async with database.transaction() as session:
        for statement in statements:
            await session.execute(statement)


async def link(client: httpx.AsyncClient, open_id: str) -> str:
    body = await gql(
        client, LINK_ID, {"input": {"channel": "MINI_PROGRAM", "appId": MINI, "openId": open_id}}
    )
    assert "errors" not in body, body
    return str(body["data"]["linkIdentity"]["id"])


async def operator_records(database: Database, n: int, *, per_transaction: int = 1) -> None:
    for i in range(n):
        async with audited(database) as session:
            for j in range(per_transaction):
                audit.record(
                    session,
                    action="pii.read",
                    profile_id=i,
                    fields=[{"field": "phone", "access": "full"}],
                    purpose=f"第 {i}.{j} 次",
                    detail={"i": i, "j": j},
                )


@pytest.fixture
async def chain(
    database: Database,
    service_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    client_for: ClientFactory,
) -> list[dict[str, Any]]:
    """A chain of a dozen records from requests and operators; its rows."""
    public_id = await link(service_client, "oChainSeed0000000000000001")
    customer = client_for(Role.CUSTOMER, subject=public_id)
    await gql(
        customer,
        'mutation { updateMyProfile(input: {phone: "13700001234", name: "链"}) { id } }',
    )
    await gql(customer, "{ me { phone name } }")
    await gql(support_client, '{ profile(phone: "13700001234", purpose: "工单 #77") { phone } }')
    await operator_records(database, 4, per_transaction=2)
    await gql(customer, "{ me { phone } }")
    await sealed(database)
    found = await rows(database)
    assert [row["seq"] for row in found] == list(range(1, 14))
    return found


def assert_broken_at(verdict: Verdict, seq: int) -> None:
    assert not verdict.intact
    assert verdict.problem is not None
    assert verdict.problem.seq == seq, str(verdict.problem)
    assert f"record {seq}" in str(verdict.problem)
    assert verdict.checked == seq - 1


def forged(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a record with changes, not (yet) a leaf of the tree."""
    return {**template, "leaf_index": None, **changes}


async def shift_up(database: Database, from_seq: int) -> None:
    """Make room at `from_seq` by moving every later record one place on (two steps, so no
    primary key collides on the way)."""
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq >= from_seq).values(seq=-AUDIT.c.seq),
        sa.update(AUDIT).where(AUDIT.c.seq < 0).values(seq=1 - AUDIT.c.seq),
    )


# --- an untouched chain ------------------------------------------------------------------------


async def test_an_untouched_chain_verifies(database: Database, chain: list[dict[str, Any]]) -> None:
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and verdict.problem is None
    assert verdict.checked == verdict.head_seq == len(chain) == 13
    assert verdict.head == chain[-1]["hash"]
    # Each link really is HMAC(audit key, previous hash + canonical record).
    prev = GENESIS
    for row in chain:
        assert row["prev_hash"] == prev
        assert row["hash"] == link_hash(KEY, prev, row)
        prev = row["hash"]


async def test_an_empty_chain_verifies(database: Database) -> None:
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and verdict.checked == 0 and verdict.head is None


async def test_a_chain_does_not_verify_under_another_audit_key(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    assert_broken_at(await verify_chain(database, Keyring.generate(development=False).audit_key), 1)


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "forbidden"},
        {"fields": []},
        {"fields": [{"field": "phone", "access": "masked"}]},
        {"purpose": "another purpose"},
        {"actor_subject": "someone-else"},
        {"actor_role": "compliance"},
        {"action": "profile.lookup"},
        {"request_id": "0123456789abcdef"},
        {"detail": {"i": 999}},
        {"profile_id": 424242},
    ],
)
async def test_a_modified_record_is_named(
    database: Database, chain: list[dict[str, Any]], change: dict[str, Any]
) -> None:
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 7).values(**change))
    verdict = await verify_chain(database, KEY)
    assert_broken_at(verdict, 7)
    assert "modified" in str(verdict.problem)


async def test_a_modified_time_is_named(database: Database, chain: list[dict[str, Any]]) -> None:
    shifted = chain[4]["occurred_at"].replace(microsecond=(chain[4]["occurred_at"].microsecond + 1))
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 5).values(occurred_at=shifted))
    assert_broken_at(await verify_chain(database, KEY), 5)


async def test_a_modified_last_record_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 13).values(outcome="error"))
    assert_broken_at(await verify_chain(database, KEY), 13)


async def test_a_rehashed_record_no_longer_links_to_the_next(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    """Changing a record and giving it a new (even correct) hash breaks the next link."""
    changed = forged(chain[5], outcome="forbidden")
    rehash = link_hash(KEY, changed["prev_hash"], changed)
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq == 6).values(outcome="forbidden", hash=rehash),
    )
    verdict = await verify_chain(database, KEY)
    assert_broken_at(verdict, 7)
    assert "does not follow" in str(verdict.problem)


async def test_a_changed_prev_hash_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(
        database, sa.update(AUDIT).where(AUDIT.c.seq == 9).values(prev_hash=bytes(range(32)))
    )
    assert_broken_at(await verify_chain(database, KEY), 9)


async def test_a_record_deleted_in_the_middle_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq == 6))
    verdict = await verify_chain(database, KEY)
    assert_broken_at(verdict, 6)
    assert "missing" in str(verdict.problem)


async def test_several_records_deleted_name_the_first(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq.in_([4, 5, 9])))
    assert_broken_at(await verify_chain(database, KEY), 4)


async def test_the_first_record_deleted_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq == 1))
    assert_broken_at(await verify_chain(database, KEY), 1)


async def test_a_deleted_record_closed_up_by_renumbering_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(
        database,
        sa.delete(AUDIT).where(AUDIT.c.seq == 6),
        sa.update(AUDIT).where(AUDIT.c.seq > 6).values(seq=-AUDIT.c.seq),
        sa.update(AUDIT).where(AUDIT.c.seq < 0).values(seq=-AUDIT.c.seq - 1),
    )
    assert [row["seq"] for row in await rows(database)] == list(range(1, 13))
    assert_broken_at(await verify_chain(database, KEY), 6)


async def test_a_record_inserted_in_the_middle_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await shift_up(database, 6)
    fake = forged(chain[5], seq=6, prev_hash=chain[4]["hash"], hash=bytes(32), outcome="ok")
    fake.update(action="pii.read", actor_subject="support-test", purpose="forged")
    await execute(database, sa.insert(AUDIT).values(**fake))
    assert [row["seq"] for row in await rows(database)] == list(range(1, 15))
    assert_broken_at(await verify_chain(database, KEY), 6)


async def test_a_record_inserted_with_a_hash_under_another_key_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await shift_up(database, 3)
    fake = forged(chain[2], seq=3, prev_hash=chain[1]["hash"], action="audit.read")
    fake["hash"] = link_hash(Keyring.generate(development=False).audit_key, fake["prev_hash"], fake)
    await execute(database, sa.insert(AUDIT).values(**fake))
    assert_broken_at(await verify_chain(database, KEY), 3)


async def test_a_replayed_copy_of_a_record_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await shift_up(database, 8)
    await execute(database, sa.insert(AUDIT).values(**forged(chain[6], seq=8)))
    assert_broken_at(await verify_chain(database, KEY), 8)


async def test_a_forged_last_record_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    fake = forged(chain[-1], seq=14, prev_hash=chain[-1]["hash"], hash=os.urandom(32))
    await execute(database, sa.insert(AUDIT).values(**fake))
    verdict = await verify_chain(database, KEY)
    assert_broken_at(verdict, 14)
    assert verdict.checked == 13


async def test_a_record_at_a_gap_beyond_the_head_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    fake = forged(chain[-1], seq=20, prev_hash=chain[-1]["hash"], hash=os.urandom(32))
    await execute(database, sa.insert(AUDIT).values(**fake))
    assert_broken_at(await verify_chain(database, KEY), 14)


@pytest.mark.parametrize(("a", "b"), [(3, 4), (3, 10), (1, 2), (12, 13)])
async def test_two_records_reordered_are_named(
    database: Database, chain: list[dict[str, Any]], a: int, b: int
) -> None:
    first, second = chain[a - 1], chain[b - 1]
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq == a).values(**{c: second[c] for c in CONTENT}),
        sa.update(AUDIT).where(AUDIT.c.seq == b).values(**{c: first[c] for c in CONTENT}),
    )
    verdict = await verify_chain(database, KEY)
    assert_broken_at(verdict, a)
    assert "does not follow" in str(verdict.problem)


async def test_a_record_renumbered_by_swapping_seqs_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq == 4).values(seq=-1),
        sa.update(AUDIT).where(AUDIT.c.seq == 5).values(seq=4),
        sa.update(AUDIT).where(AUDIT.c.seq == -1).values(seq=5),
    )
    assert_broken_at(await verify_chain(database, KEY), 4)


async def test_tampering_is_found_across_verification_batches(database: Database) -> None:
    total = BATCH + 150
    async with audited(database) as session:
        for i in range(total):
            audit.record(session, action="key.rewrap", detail={"i": i})
    await sealed(database)
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and verdict.checked == total
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == BATCH + 1).values(outcome="x"))
    assert_broken_at(await verify_chain(database, KEY), BATCH + 1)
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq == BATCH))
    assert_broken_at(await verify_chain(database, KEY), BATCH)


# --- truncation and checkpoints ----------------------------------------------------------------


async def test_truncation_is_found_only_against_a_checkpoint_made_before_it(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    assert checkpoint["seq"] == 13 and checkpoint["head"] == chain[-1]["hash"].hex()
    assert set(checkpoint) == {"seq", "head", "at", "signature"}
    assert (await verify_chain(database, KEY, checkpoint=checkpoint)).intact

    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq >= 12))
    without = await verify_chain(database, KEY)
    assert without.intact and without.checked == 11, "a shorter chain is still a chain"
    verdict = await verify_chain(database, KEY, checkpoint=checkpoint)
    assert not verdict.intact and verdict.problem is not None
    assert verdict.problem.seq == 12 and "record 12" in str(verdict.problem)
    assert "truncated" in str(verdict.problem)


async def test_truncation_to_nothing_is_found_against_a_checkpoint(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    await execute(database, sa.delete(AUDIT))
    assert (await verify_chain(database, KEY)).intact
    verdict = await verify_chain(database, KEY, checkpoint=checkpoint)
    assert verdict.problem is not None and verdict.problem.seq == 1


async def test_records_written_after_a_checkpoint_still_verify_against_it(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    await operator_records(database, 3)
    await sealed(database)
    verdict = await verify_chain(database, KEY, checkpoint=checkpoint)
    assert verdict.intact and verdict.checked == 16


async def test_a_tail_rewritten_after_a_checkpoint_is_found_against_it(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    # Rewriting the tail takes deleting the signed heads too: the sealer refuses otherwise.
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq >= 12), sa.delete(HEADS))
    await operator_records(database, 4)  # a fresh, well-formed tail, sealed and linked
    await sealed(database)
    assert (await verify_chain(database, KEY)).intact
    verdict = await verify_chain(database, KEY, checkpoint=checkpoint)
    assert not verdict.intact and verdict.problem is not None
    assert verdict.problem.seq == 13, str(verdict.problem)


async def test_the_sealer_refuses_to_seal_over_a_truncated_log(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq >= 12))
    await operator_records(database, 2)
    with pytest.raises(LogChanged, match="record 13, the last the signed head of 13 holds"):
        await seal(database, TEST_KEYRING)
    assert (await verify_chain(database, KEY)).unsealed == 2


async def test_a_checkpoint_of_an_empty_log_verifies_the_log_grown_from_it(
    database: Database,
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    assert checkpoint["seq"] == 0
    await operator_records(database, 2)
    await sealed(database)
    verdict = await verify_chain(database, KEY, checkpoint=checkpoint)
    assert verdict.intact, str(verdict.problem)


@pytest.mark.parametrize(
    "spoil",
    [
        {"signature": "0" * 64},
        {"seq": 12},
        {"seq": 99},
        {"head": "00" * 32},
        {"signature": None},
        {"head": "not hex"},
    ],
)
async def test_a_checkpoint_with_a_wrong_signature_is_refused(
    database: Database, chain: list[dict[str, Any]], spoil: dict[str, Any]
) -> None:
    checkpoint = await make_checkpoint(database, KEY)
    with pytest.raises(ValueError):
        await verify_chain(database, KEY, checkpoint={**checkpoint, **spoil})


async def test_a_checkpoint_signed_by_another_key_or_not_a_checkpoint_is_refused(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    other = Keyring.generate(development=False).audit_key
    checkpoint = await make_checkpoint(database, KEY)
    with pytest.raises(ValueError):
        await verify_chain(database, other, checkpoint=checkpoint)
    for not_one in ({}, {"seq": 1}, {"seq": "x", "head": "", "signature": ""}):
        with pytest.raises(ValueError):
            await verify_chain(database, KEY, checkpoint=not_one)


async def test_no_checkpoint_is_made_of_a_broken_chain(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 2).values(outcome="x"))
    with pytest.raises(ValueError, match="record 2"):
        await make_checkpoint(database, KEY)


# --- the CLI -----------------------------------------------------------------------------------


async def run_cdp(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cdp_audit_verify_passes_an_intact_chain_and_names_a_modified_record(
    database: Database, database_url: str, chain: list[dict[str, Any]]
) -> None:
    code, out, err = await run_cdp("audit", "verify", database_url=database_url)
    assert code == 0, err
    assert "intact" in out and "13 records" in out
    # The check itself is recorded, and chained.
    after = await rows(database)
    assert len(after) == 14 and after[-1]["action"] == "audit.verify"
    assert (after[-1]["actor_role"], after[-1]["outcome"]) == ("operator", "ok")

    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 5).values(outcome="ok!"))
    code, out, err = await run_cdp("audit", "verify", database_url=database_url)
    assert code == 1, out + err
    assert "record 5" in err and "BROKEN" in err
    assert (await rows(database))[-1]["outcome"] == "broken"


async def test_cdp_audit_verify_names_a_deleted_record(
    database: Database, database_url: str, chain: list[dict[str, Any]]
) -> None:
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq == 8))
    code, _, err = await run_cdp("audit", "verify", database_url=database_url)
    assert code == 1 and "record 8" in err


async def test_cdp_audit_checkpoint_then_verify_with_it_finds_truncation(
    database: Database, database_url: str, chain: list[dict[str, Any]], tmp_path: Path
) -> None:
    code, out, err = await run_cdp("audit", "checkpoint", database_url=database_url)
    assert code == 0, err
    checkpoint = json.loads(out)
    assert checkpoint["seq"] == 13 and checkpoint["head"] == chain[-1]["hash"].hex()
    saved = tmp_path / "checkpoint.json"
    saved.write_text(out, encoding="utf-8")

    code, out, err = await run_cdp(
        "audit", "verify", "--checkpoint", str(saved), database_url=database_url
    )
    assert code == 0, err

    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq >= 11))
    code, out, err = await run_cdp(
        "audit", "verify", "--checkpoint", str(saved), database_url=database_url
    )
    assert code == 1, out + err
    assert "record 11" in err
    # Inline JSON works too.
    code, out, err = await run_cdp(
        "audit", "verify", "--checkpoint", json.dumps(checkpoint), database_url=database_url
    )
    assert code == 1 and "record" in err


async def test_cdp_audit_verify_refuses_a_forged_checkpoint(
    database_url: str, chain: list[dict[str, Any]], tmp_path: Path
) -> None:
    code, out, _ = await run_cdp("audit", "checkpoint", database_url=database_url)
    assert code == 0
    forged_checkpoint = {**json.loads(out), "seq": 5}
    code, _, err = await run_cdp(
        "audit", "verify", "--checkpoint", json.dumps(forged_checkpoint), database_url=database_url
    )
    assert code == 2 and "checkpoint" in err
    code, _, err = await run_cdp(
        "audit", "verify", "--checkpoint", str(tmp_path / "missing.json"), database_url=database_url
    )
    assert code == 2 and "checkpoint" in err


# --- concurrent writers ------------------------------------------------------------------------


def assert_one_unforked_chain(found: list[dict[str, Any]]) -> None:
    assert [row["seq"] for row in found] == list(range(1, len(found) + 1))
    prev = GENESIS
    for row in found:
        assert row["prev_hash"] == prev, f"record {row['seq']} forks the chain"
        prev = row["hash"]
    assert len({row["hash"] for row in found}) == len(found)


async def test_concurrent_requests_never_fork_the_chain(
    database: Database, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    people = [await link(service_client, f"oConcurrent{i:017d}") for i in range(20)]
    seeded = len(await rows(database))
    assert seeded == 20

    async def read_me(public_id: str) -> dict[str, Any]:
        return await gql(client_for(Role.CUSTOMER, subject=public_id), "{ me { phone } }")

    async def link_new(i: int) -> dict[str, Any]:
        return await gql(
            client_for(Role.SERVICE, subject=f"svc-{i}"),
            LINK_ID,
            {
                "input": {
                    "channel": "MINI_PROGRAM",
                    "appId": MINI,
                    "openId": f"oConcurrentNew{i:014d}",
                }
            },
        )

    bodies = await asyncio.gather(*(read_me(p) for p in people), *(link_new(i) for i in range(10)))
    assert all("errors" not in body for body in bodies), bodies
    await sealed(database)
    found = await rows(database)
    assert len(found) == seeded + 30
    assert_one_unforked_chain(found)
    actions = [row["action"] for row in found[seeded:]]
    assert sorted(actions) == ["identity.link"] * 10 + ["pii.read"] * 20
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and verdict.checked == seeded + 30


async def test_concurrent_operators_with_several_records_each_never_fork_the_chain(
    database: Database, client_for: ClientFactory
) -> None:
    async def write(i: int) -> None:
        async with audited(database) as session:
            for j in range(3):
                audit.record(session, action="key.rewrap", detail={"i": i, "j": j})
                await asyncio.sleep(0)

    async def refuse(i: int) -> None:
        response = await client_for(Role.ANALYST, subject=f"analyst-{i}").post(
            "/graphql", json={"query": '{ profile(id: "x", purpose: "p") { id } }'}
        )
        assert response.status_code == 200

    await asyncio.gather(*(write(i) for i in range(20)), *(refuse(i) for i in range(10)))
    await sealed(database)
    found = await rows(database)
    assert len(found) == 70
    assert_one_unforked_chain(found)
    # A transaction's records keep the order it wrote them in.
    for i in range(20):
        mine = [r["detail"]["j"] for r in found if r["detail"].get("i") == i]
        assert mine == [0, 1, 2]
    assert (await verify_chain(database, KEY)).intact


# --- written without a lock, sealed after ------------------------------------------------------


async def test_records_not_sealed_yet_are_reported_not_skipped(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await operator_records(database, 2)
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and (verdict.checked, verdict.unsealed) == (13, 2)
    await sealed(database)
    verdict = await verify_chain(database, KEY)
    assert verdict.intact and (verdict.checked, verdict.unsealed) == (15, 0)


async def test_a_forged_link_after_records_not_sealed_yet_is_named(
    database: Database, chain: list[dict[str, Any]]
) -> None:
    await operator_records(database, 2)
    fake = forged(chain[-1], seq=16, prev_hash=chain[-1]["hash"], hash=os.urandom(32))
    await execute(database, sa.insert(AUDIT).values(**fake))
    verdict = await verify_chain(database, KEY)
    assert verdict.problem is not None and verdict.problem.seq == 16
    assert "not sealed yet" in verdict.problem.reason


async def test_an_audited_write_never_waits_for_another_to_commit(
    database: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time by design")
    async with audited(database) as holding:
        audit.record(holding, action="key.rewrap", detail={"holding": True})
        # The first writer's records are in, and its transaction stays open: under one lock
        # across the commit, the second writer would wait here until it ends.
        await holding.run_sync(lambda s: audit.append_records(s, audit.trail_of(s)))
        await asyncio.wait_for(operator_records(database, 1), timeout=10)
    await sealed(database)
    found = await rows(database)
    assert sorted(row["detail"].get("holding", False) for row in found) == [False, True]
    assert (await verify_chain(database, KEY)).intact
