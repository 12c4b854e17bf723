"""Proofs from the stored subtrees: the sealer keeps the roots of the perfect subtrees of 256
leaves and more, a proof reads those and a few small windows of records instead of the whole
log, and nothing stored is trusted (both databases)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from cdp.audit import trail as audit
from cdp.audit.models import AuditEvent, AuditTreeNode
from cdp.audit.sealer import seal
from cdp.audit.signing import load_public_keys, public_keys_document
from cdp.audit.tree import consistency, inclusion, verify_tree
from cdp.db import Database
from tests.conftest import TEST_KEYRING, audited
from tests.support.sealing import consistency_holds, inclusion_holds

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
NODES = AuditTreeNode.__table__  # type: ignore[attr-defined]
PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))


async def write(database: Database, n: int) -> None:
    """`n` records in one transaction."""
    async with audited(database) as session:
        for i in range(n):
            audit.record(session, action="pii.read", profile_id=i % 7, detail={"i": i})


async def seal_all(database: Database) -> None:
    while await seal(database, TEST_KEYRING) is not None:
        pass


async def seq_of(database: Database, leaf: int) -> int:
    async with database.transaction() as session:
        return int(
            await session.scalar(sa.select(AUDIT.c.seq).where(AUDIT.c.leaf_index == leaf)) or 0
        )


async def a_log_of_700(database: Database) -> None:
    """700 sealed records under heads of 300 and 700."""
    await write(database, 300)
    await seal_all(database)
    await write(database, 400)
    await seal_all(database)


async def test_the_sealer_stores_each_perfect_subtree_of_256_leaves_and_more(
    database: Database,
) -> None:
    await a_log_of_700(database)
    async with database.transaction() as session:
        stored = set((await session.execute(sa.select(NODES.c.level, NODES.c.position))).all())
    assert stored == {(8, 0), (8, 1), (9, 0)}


async def test_proofs_from_stored_subtrees_verify_against_the_signed_head(
    database: Database,
) -> None:
    await a_log_of_700(database)
    for leaf in (0, 1, 255, 256, 299, 300, 511, 512, 698, 699):
        proof = await inclusion(database, await seq_of(database, leaf))
        assert proof["leaf_index"] == leaf and inclusion_holds(proof), leaf
    assert consistency_holds(await consistency(database, 300, 700))


async def test_a_proof_reads_its_own_windows_and_not_the_whole_log(database: Database) -> None:
    await a_log_of_700(database)
    far = await seq_of(database, 100)  # inside the first stored subtree
    async with database.transaction() as session:
        await session.execute(
            sa.update(AUDIT).where(AUDIT.c.seq == far).values(detail={"i": "rewritten"})
        )
    # The proof of a leaf outside that subtree takes its stored root, not its records.
    assert inclusion_holds(await inclusion(database, await seq_of(database, 650)))
    # The rewritten record's own proof cannot hold, and the full check finds it.
    assert not inclusion_holds(await inclusion(database, far))
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.problem is not None and "modified" in str(verdict.problem)


async def test_a_tree_sealed_without_stored_subtrees_is_proved_from_its_records(
    database: Database,
) -> None:
    await a_log_of_700(database)
    async with database.transaction() as session:
        await session.execute(sa.delete(NODES))
    assert inclusion_holds(await inclusion(database, await seq_of(database, 650)))
    assert inclusion_holds(await inclusion(database, await seq_of(database, 3)))


async def test_a_stored_subtree_that_was_changed_makes_a_proof_that_fails(
    database: Database,
) -> None:
    await a_log_of_700(database)
    async with database.transaction() as session:
        await session.execute(
            sa.update(NODES).where(NODES.c.level == 8, NODES.c.position == 0).values(hash=bytes(32))
        )
    assert not inclusion_holds(await inclusion(database, await seq_of(database, 400)))
    assert inclusion_holds(await inclusion(database, await seq_of(database, 100)))
