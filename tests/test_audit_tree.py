"""The sealed audit log: committed records become Merkle leaves under signed heads; the whole
log checks with the public keys alone; a modified, deleted, inserted, reordered or truncated
record is found; unsealed records are reported; two sealers never seal a record twice and a
dead one loses nothing (both databases)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from cdp.audit import trail as audit
from cdp.audit.models import AuditEvent, AuditTreeHead
from cdp.audit.sealer import seal
from cdp.audit.signing import load_public_keys, public_keys_document, rotate
from cdp.audit.tree import TreeVerdict, consistency, inclusion, verify_tree
from cdp.crypto import Keyring
from cdp.db import Database
from tests.conftest import TEST_KEYRING, audited
from tests.support.sealing import consistency_holds, inclusion_holds

# On a Citus cluster too: the guarantees hold across workers (tests/support/citus.py).
pytestmark = pytest.mark.citus

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
HEADS = AuditTreeHead.__table__  # type: ignore[attr-defined]
PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))


async def write(database: Database, n: int) -> None:
    for i in range(n):
        async with audited(database) as session:
            audit.record(session, action="pii.read", profile_id=i, detail={"i": i})


async def sealed_log(database: Database, n: int = 6) -> None:
    """`n` records, each sealed under a head of its own."""
    for _ in range(n):
        await write(database, 1)
        assert await seal(database, TEST_KEYRING) is not None


async def execute(database: Database, *statements: Any) -> None:
    async with database.transaction() as session:
        for statement in statements:
            await session.execute(statement)


def broken(verdict: TreeVerdict, seq: int) -> str:
    assert verdict.problem is not None, verdict
    assert verdict.problem.seq == seq, str(verdict.problem)
    return str(verdict.problem)


async def test_a_sealed_log_verifies_with_the_public_key_alone(database: Database) -> None:
    await write(database, 3)
    head = await seal(database, TEST_KEYRING)
    assert head is not None and head.size == 3
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.intact and (verdict.size, verdict.unsealed) == (3, 0)


async def test_an_unsealed_record_is_reported_not_skipped(database: Database) -> None:
    await sealed_log(database, 2)
    await write(database, 3)
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.intact and (verdict.size, verdict.unsealed) == (2, 3)
    assert await seal(database, TEST_KEYRING) is not None
    assert (await verify_tree(database, PUBLIC)).unsealed == 0


async def test_a_modified_record_is_named(database: Database) -> None:
    await sealed_log(database)
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 4).values(outcome="error"))
    assert "record 4:" in broken(await verify_tree(database, PUBLIC), 4)


async def test_a_deleted_record_is_found(database: Database) -> None:
    await sealed_log(database)
    await execute(database, sa.delete(AUDIT).where(AUDIT.c.seq == 3))
    assert "missing (deleted)" in broken(await verify_tree(database, PUBLIC), 4)


async def test_reordered_records_are_found(database: Database) -> None:
    await sealed_log(database)
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq == 2).values(leaf_index=-1),
        sa.update(AUDIT).where(AUDIT.c.seq == 5).values(leaf_index=1),
        sa.update(AUDIT).where(AUDIT.c.seq == 2).values(leaf_index=4),
    )
    assert not (await verify_tree(database, PUBLIC)).intact


async def test_an_inserted_record_is_found(database: Database) -> None:
    await sealed_log(database)
    async with database.transaction() as session:
        row = dict(
            (await session.execute(sa.select(AUDIT).where(AUDIT.c.seq == 3))).mappings().one()
        )
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.leaf_index >= 3).values(leaf_index=AUDIT.c.leaf_index + 10),
        sa.update(AUDIT).where(AUDIT.c.leaf_index >= 13).values(leaf_index=AUDIT.c.leaf_index - 9),
        sa.insert(AUDIT).values({**row, "seq": 100, "leaf_index": 3, "outcome": "forged"}),
    )
    assert not (await verify_tree(database, PUBLIC)).intact


async def test_a_truncated_log_is_found_with_a_saved_head(database: Database) -> None:
    await sealed_log(database, 5)
    async with database.transaction() as session:
        from cdp.audit.tree import latest_head

        saved = await latest_head(session)
    assert saved is not None
    # The owner drops the last two records and the heads that name them.
    await execute(
        database,
        sa.delete(AUDIT).where(AUDIT.c.seq > 3),
        sa.delete(HEADS).where(HEADS.c.size > 3),
    )
    assert (await verify_tree(database, PUBLIC)).intact  # alone, a shorter log looks whole
    verdict = await verify_tree(database, PUBLIC, checkpoint=saved)
    assert "truncated" in broken(verdict, 4)


async def test_a_rewritten_history_fails_consistency_with_a_saved_head(
    database: Database,
) -> None:
    await sealed_log(database, 3)
    async with database.transaction() as session:
        from cdp.audit.tree import latest_head

        saved = await latest_head(session)
    assert saved is not None
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 2).values(outcome="error"))
    # The owner re-signs (it has the keyring): the heads agree with the records again...
    await execute(database, sa.delete(HEADS), sa.update(AUDIT).values(leaf_index=None))
    assert await seal(database, TEST_KEYRING) is not None
    assert (await verify_tree(database, PUBLIC)).intact
    # ...but not with the head an auditor kept.
    verdict = await verify_tree(database, PUBLIC, checkpoint=saved)
    assert "differs from the checkpoint" in broken(verdict, 3)


async def test_a_forged_head_signature_is_found(database: Database) -> None:
    await sealed_log(database, 2)
    await execute(database, sa.update(HEADS).values(signature=bytes(64)))
    assert "signature" in broken(await verify_tree(database, PUBLIC), 2)
    other = load_public_keys(json.dumps(public_keys_document(Keyring.generate(development=True))))
    assert not (await verify_tree(database, other)).intact


async def test_heads_signed_before_a_rotation_still_verify(database: Database) -> None:
    await sealed_log(database, 2)
    rotated = rotate(TEST_KEYRING)
    await write(database, 1)
    head = await seal(database, rotated)
    assert head is not None and head.key_version == 2
    keys = load_public_keys(json.dumps(public_keys_document(rotated)))
    assert (await verify_tree(database, keys)).intact


async def test_inclusion_and_consistency_proofs_verify(database: Database) -> None:
    await sealed_log(database, 5)
    assert inclusion_holds(await inclusion(database, 3))
    assert consistency_holds(await consistency(database, 2, 5))


async def test_two_sealers_seal_every_record_exactly_once(database: Database) -> None:
    await write(database, 8)
    await asyncio.gather(seal(database, TEST_KEYRING), seal(database, TEST_KEYRING))
    await seal(database, TEST_KEYRING)
    async with database.transaction() as session:
        indexes = sorted((await session.execute(sa.select(AUDIT.c.leaf_index))).scalars())
    assert indexes == list(range(8))
    assert (await verify_tree(database, PUBLIC)).intact


async def test_a_sealer_that_dies_loses_nothing(database: Database) -> None:
    await write(database, 4)
    dying = asyncio.create_task(seal(database, TEST_KEYRING))
    await asyncio.sleep(0)
    dying.cancel()
    await asyncio.gather(dying, return_exceptions=True)
    await seal(database, TEST_KEYRING)
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.intact and (verdict.size, verdict.unsealed) == (4, 0)


async def test_a_number_no_committed_write_holds_is_sealed_as_a_gap_record(
    database: Database,
) -> None:
    await write(database, 3)
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 3).values(seq=4))
    head = await seal(database, TEST_KEYRING)
    assert head is not None and head.size == 4
    async with database.transaction() as session:
        gap = (await session.execute(sa.select(AUDIT).where(AUDIT.c.seq == 3))).mappings().one()
    assert (gap["action"], gap["actor_subject"], gap["leaf_index"]) == (
        "audit.gap",
        "cdp-sealer",
        2,
    )
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.intact and (verdict.size, verdict.unsealed) == (4, 0)


async def test_the_sealer_waits_for_a_writer_still_holding_a_lower_number(
    database: Database, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: no number is ever held by a write in flight")
    await write(database, 1)
    engine = database.engine
    async with engine.connect() as slow:
        await slow.begin()
        await slow.execute(
            sa.insert(AUDIT).values(
                seq=sa.func.nextval("audit_seq"),
                occurred_at=sa.func.now(),
                actor_subject="slow-writer",
                actor_role="operator",
                action="pii.read",
                outcome="ok",
                fields=[],
                detail={},
            )
        )
        await write(database, 1)  # seq 3 commits while seq 2 is in flight
        sealing = asyncio.create_task(seal(database, TEST_KEYRING))
        await asyncio.sleep(0.3)
        assert not sealing.done(), "the sealer passed a number still held by a writer"
        await slow.commit()
    head = await sealing
    assert head is not None and head.size == 3
    async with database.transaction() as session:
        found = (await session.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))).mappings().all()
    assert [(r["seq"], r["actor_subject"]) for r in found][1] == (2, "slow-writer")
    assert "audit.gap" not in [r["action"] for r in found]
    assert (await verify_tree(database, PUBLIC)).intact
