"""Today's chain migrates: records the HMAC chain linked before the tree (under the lock, with
their links) become the tree's first leaves, the chain's last head is kept in a note signed with
the tree's key, numbering continues after them, and both checks pass (both databases)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from cdp.audit import trail as audit
from cdp.audit.chain import GENESIS, link_hash
from cdp.audit.models import AuditEvent, AuditNote
from cdp.audit.sealer import LEGACY_NOTE
from cdp.audit.signing import load_public_keys, note_message, public_keys_document
from cdp.audit.tree import verify_tree
from cdp.db import Database
from cdp.migrations import alembic_config
from tests.conftest import TEST_KEYRING, audited, fresh_pg_database, make_settings
from tests.pg_cluster import PgCluster
from tests.support.sealing import sealed, sealed_verdict

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
NOTES = AuditNote.__table__  # type: ignore[attr-defined]
PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))


@pytest.fixture
async def before_the_tree(backend: str, tmp_path: Path, pg_cluster: PgCluster | None) -> Any:
    """A database migrated to 0013 (the chain, before lock-free writes), holding five records
    linked as the chain linked them."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    else:
        assert pg_cluster is not None
        url = await fresh_pg_database(pg_cluster, template=None)
    settings = make_settings(url)
    await asyncio.to_thread(command.upgrade, alembic_config(settings), "0013_audit_tree")
    database = Database(settings)
    prev, rows = GENESIS, []
    for seq in range(1, 6):
        row = {
            "seq": seq,
            "occurred_at": datetime(2026, 11, 30, 8, seq, tzinfo=UTC),
            "request_id": f"r{seq}",
            "actor_subject": "support-7",
            "actor_role": "support",
            "action": "pii.read",
            "profile_id": seq,
            "fields": [{"field": "phone", "access": "masked"}],
            "purpose": f"工单 {seq}",
            "outcome": "ok",
            "detail": {},
        }
        digest = link_hash(TEST_KEYRING.audit_key, prev, row)
        rows.append({**row, "prev_hash": prev, "hash": digest})
        prev = digest
    async with database.transaction() as session:
        await session.execute(sa.insert(AUDIT).values(rows))
    await database.dispose()
    return settings, prev


async def test_the_old_chain_becomes_the_first_leaves_under_a_signed_note(
    before_the_tree: Any,
) -> None:
    settings, last_head = before_the_tree
    await asyncio.to_thread(command.upgrade, alembic_config(settings), "head")
    database = Database(settings)
    try:
        async with audited(database) as session:  # written after the upgrade, lock-free
            audit.record(session, action="key.rewrap", detail={"after": True})
        verdict = await sealed_verdict(database)
        assert verdict.intact and verdict.checked == 6
        async with database.transaction() as session:
            found = (await session.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))).mappings()
            rows = [dict(r) for r in found]
            note = (await session.execute(sa.select(NOTES))).mappings().one()
        assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6], "numbering continues after them"
        assert [r["leaf_index"] for r in rows] == [0, 1, 2, 3, 4, 5]
        assert rows[5]["prev_hash"] == last_head, "the new record extends the old chain"
        assert (note["kind"], note["body"]) == (LEGACY_NOTE, {"seq": 5, "head": last_head.hex()})
        key = PUBLIC[note["key_version"]]
        key.verify(note["signature"], note_message(note["kind"], note["body"], note["at"]))
        tree = await verify_tree(database, PUBLIC)
        assert tree.intact and (tree.size, tree.unsealed) == (6, 0)
        async with database.transaction() as session:  # a note changed: the check says so
            await session.execute(sa.update(NOTES).values(body={"seq": 5, "head": "00" * 32}))
        assert "note's signature" in str((await verify_tree(database, PUBLIC)).problem)
        await sealed(database)  # nothing more: the note is written once
        async with database.transaction() as session:
            assert await session.scalar(sa.select(sa.func.count()).select_from(NOTES)) == 1
    finally:
        await database.dispose()
