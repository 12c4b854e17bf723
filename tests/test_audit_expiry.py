"""Audit records past their retention (both databases): the oldest are deleted and summarised
into the signed `expired` note, and the log still verifies with the keyring and with the
public keys alone; inclusion and consistency proofs still hold; a forged summary is found."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cdp.audit import merkle
from cdp.audit import trail as audit
from cdp.audit.expiry import EXPIRED_NOTE, expire_before
from cdp.audit.models import AuditEvent, AuditNote, AuditTreeHead
from cdp.audit.signing import load_public_keys, public_keys_document
from cdp.audit.tree import consistency, inclusion, verify_tree
from cdp.audit.verify import verify_chain
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.retention.policies import Kind
from cdp.retention.run import run_retention
from tests.conftest import TEST_KEYRING, audited, gql, make_settings
from tests.support.erasure_people import Person
from tests.support.sealing import sealed

PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))
KEYRING = KeyringSource.fixed(TEST_KEYRING)


async def records(database: Database) -> list[int]:
    async with database.transaction() as session:
        return list(await session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))


async def expire_all_but_the_newest(database: Database, keystore: KeyStore) -> int:
    """Retention as it runs four years from now, for the audit log alone."""
    only_audit = make_settings(
        database.settings.database_url,
        retention_events_months=0,
        retention_contacts_months=0,
        retention_orders_years=0,
    )
    await sealed(database)
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    outcomes = await run_retention(
        database, KEYRING, only_audit, keystore=keystore, dry_run=False, now=later
    )
    (audit,) = [o for o in outcomes if o.policy.kind is Kind.AUDIT]
    assert audit.done == audit.due
    await sealed(database)
    return audit.done


async def test_expired_audit_records_leave_a_log_that_still_verifies(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    anna, _ = people
    await sealed(database)
    before = await records(database)
    async with database.transaction() as session:
        old_size = int(await session.scalar(sa.select(sa.func.max(AuditTreeHead.size))) or 0)
    expired = await expire_all_but_the_newest(database, keystore)
    assert expired == len(before) - 1  # all but the record the latest head ends with
    left = await records(database)
    assert left[0] == before[-1] and len(left) == 2  # ... and the run's own record
    chain = await verify_chain(database, TEST_KEYRING.audit_key)
    assert chain.intact and chain.checked == 2, chain
    tree = await verify_tree(database, PUBLIC)
    assert tree.intact and tree.size == len(before) + 1, tree
    proof = await inclusion(database, left[-1])
    head = proof["tree_head"]
    assert merkle.verify_inclusion(
        proof["leaf_index"],
        head["size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(head["root"]),
    )
    # The head signed before expiry is still a prefix of today's, provably.
    step = await consistency(database, old_size, head["size"])
    assert merkle.verify_consistency(
        old_size,
        head["size"],
        bytes.fromhex(step["from"]["root"]),
        bytes.fromhex(step["to"]["root"]),
        [bytes.fromhex(p) for p in step["proof"]],
    )
    # The log goes on: new records seal and verify, and a second expiry extends the note.
    assert "errors" not in await gql(anna.customer, "query { me { id name } }")
    assert await expire_all_but_the_newest(database, keystore) >= 2
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact
    assert (await verify_tree(database, PUBLIC)).intact


async def test_a_forged_summary_of_expired_records_is_found(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    await expire_all_but_the_newest(database, keystore)
    async with database.transaction() as session:
        note = await session.scalar(sa.select(AuditNote).where(AuditNote.kind == EXPIRED_NOTE))
        assert note is not None
        forged = dict(note.body, chain=bytes(32).hex())
        await session.execute(
            sa.update(AuditNote).where(AuditNote.id == note.id).values(body=forged)
        )
    chain = await verify_chain(database, TEST_KEYRING.audit_key)
    assert not chain.intact and "summary" in str(chain.problem)
    tree = await verify_tree(database, PUBLIC)
    assert not tree.intact and "expired note" in str(tree.problem)


async def test_nothing_expires_before_its_time(
    people: tuple[Person, Person], database: Database, keystore: KeyStore
) -> None:
    await sealed(database)
    before = await records(database)
    outcomes = await run_retention(
        database, KEYRING, database.settings, keystore=keystore, dry_run=False
    )
    (audit,) = [o for o in outcomes if o.policy.kind is Kind.AUDIT]
    assert audit.due == audit.done == 0
    assert (await records(database))[: len(before)] == before


async def many_records(database: Database, count: int) -> None:
    async with audited(database) as session:
        for n in range(count):
            audit.record(session, action="audit.note", detail={"n": n})


async def test_proofs_hold_across_the_stored_subtrees_after_an_uneven_expiry(
    database: Database,
) -> None:
    await many_records(database, 600)
    await sealed(database)
    async with database.transaction() as session:
        older = int(await session.scalar(sa.select(sa.func.max(AuditTreeHead.size))) or 0)
    assert older >= 600
    await many_records(database, 150)
    await sealed(database)
    async with audited(database) as session:  # 517: inside a stored subtree of 512 and 256
        assert await expire_before(session, TEST_KEYRING, datetime.now(UTC), limit=517) == 517
    await sealed(database)
    assert (await verify_chain(database, TEST_KEYRING.audit_key)).intact
    verdict = await verify_tree(database, PUBLIC)
    assert verdict.intact, verdict
    for seq in (518, 600, 700, (await records(database))[-1]):
        proof = await inclusion(database, seq)
        head = proof["tree_head"]
        assert merkle.verify_inclusion(
            proof["leaf_index"],
            head["size"],
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(p) for p in proof["proof"]],
            bytes.fromhex(head["root"]),
        ), seq
    newest = verdict.size
    step = await consistency(database, older, newest)
    assert merkle.verify_consistency(
        older,
        newest,
        bytes.fromhex(step["from"]["root"]),
        bytes.fromhex(step["to"]["root"]),
        [bytes.fromhex(p) for p in step["proof"]],
    )
    with pytest.raises(LookupError):
        await inclusion(database, 100)  # expired
