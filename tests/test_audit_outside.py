"""The audit log as an outside auditor checks it: the public key and the signed head from the
CLI, inclusion and consistency proofs, `cdp audit verify --public-key` with no keyring anywhere,
a saved head that catches a rewritten log, key rotation; and the sealer that `cdp serve` runs,
its lag on /readyz, and another sealer taking over when one stops (both databases)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from cdp.app import create_app
from cdp.audit import merkle
from cdp.audit import trail as audit
from cdp.audit.chain import canonical
from cdp.audit.models import AuditEvent, AuditTreeHead
from cdp.audit.sealer import seal_until
from cdp.audit.signing import TreeHead, load_public_keys
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from tests.conftest import (
    TEST_JWT_SECRET,
    TEST_KEYRING,
    TEST_KEYRING_PATH,
    ClientFactory,
    audited,
)
from tests.support.sealing import sealed

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
HEADS = AuditTreeHead.__table__  # type: ignore[attr-defined]


async def cdp(*args: str, database_url: str, keyring: Path | None = TEST_KEYRING_PATH) -> Any:
    """`python -m cdp ARGS`: (exit code, stdout, stderr); `keyring=None` names a keyring file
    that does not exist, as an outside auditor's machine has none."""
    env = {**os.environ, "CDP_DATABASE_URL": database_url, "CDP_JWT_SECRET": TEST_JWT_SECRET}
    env["CDP_KEYRING"] = str(keyring or Path(env.get("TMPDIR", "/tmp")) / "no-keyring.json")
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
    return process.returncode, out.decode(), err.decode()


async def write(database: Database, n: int) -> None:
    for i in range(n):
        async with audited(database) as session:
            audit.record(session, action="pii.read", profile_id=i, detail={"i": i})


async def execute(database: Database, *statements: Any) -> None:
    async with database.transaction() as session:
        for statement in statements:
            await session.execute(statement)


async def test_an_outside_auditor_verifies_the_log_with_the_public_key_and_no_keyring(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    await write(database, 5)
    code, out, err = await cdp("audit", "seal", database_url=database_url)
    assert code == 0, err
    assert json.loads(out)["size"] == 5
    code, out, err = await cdp("audit", "public-key", database_url=database_url)
    assert code == 0, err
    assert "PRIVATE" not in out and load_public_keys(out)
    public = tmp_path / "audit-public.json"
    public.write_text(out, encoding="utf-8")
    code, out, err = await cdp("audit", "head", database_url=database_url)
    assert code == 0, err
    saved = tmp_path / "head.json"
    saved.write_text(out, encoding="utf-8")

    await write(database, 3)
    await sealed(database)
    missing = Path(os.environ.get("TMPDIR", "/tmp")) / "no-keyring.json"
    args = ("audit", "verify", "--public-key", str(public), "--checkpoint", str(saved))
    code, out, err = await cdp(*args, database_url=database_url, keyring=None)
    assert code == 0, err
    assert "8 sealed records" in out and "consistent with the checkpoint of 5" in out
    assert not missing.exists(), "verifying with the public key must not make a keyring"

    # The database's owner rewrites record 2 and re-signs nothing: the auditor sees it.
    await execute(database, sa.update(AUDIT).where(AUDIT.c.seq == 2).values(outcome="error"))
    code, out, err = await cdp(*args, database_url=database_url, keyring=None)
    # Named as closely as the signed heads allow: here the first head covers records 1..5.
    assert code == 1 and "BROKEN" in err and "records 1..5" in err and "modified" in err


async def test_a_log_rebuilt_and_resigned_after_a_saved_head_fails_the_auditors_check(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    await write(database, 4)
    await sealed(database)
    code, out, _ = await cdp("audit", "head", database_url=database_url)
    saved = tmp_path / "head.json"
    saved.write_text(out, encoding="utf-8")
    code, public, _ = await cdp("audit", "public-key", database_url=database_url)
    # Someone with the keyring rewrites history: changes record 3, drops the tree and reseals.
    await execute(
        database,
        sa.update(AUDIT).where(AUDIT.c.seq == 3).values(detail={"i": 99}),
        sa.update(AUDIT).values(leaf_index=None, hash=None, prev_hash=None),
        sa.delete(HEADS),
    )
    await sealed(database)
    args = ("audit", "verify", "--public-key", public, "--checkpoint", str(saved))
    code, out, err = await cdp(*args, database_url=database_url, keyring=None)
    assert code == 1, out + err
    assert "differs from the checkpoint" in err


async def test_an_inclusion_proof_from_the_cli_checks_against_the_signed_head_alone(
    database: Database, database_url: str
) -> None:
    await write(database, 7)
    await sealed(database)
    code, out, err = await cdp("audit", "prove", "4", database_url=database_url)
    assert code == 0, err
    proof = json.loads(out)
    head = TreeHead.from_document(proof["tree_head"])
    async with database.transaction() as session:
        row = (await session.execute(sa.select(AUDIT).where(AUDIT.c.seq == 4))).mappings().one()
    leaf = merkle.leaf_hash(canonical(dict(row)))  # the auditor hashes the record they hold
    assert leaf.hex() == proof["leaf_hash"]
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert merkle.verify_inclusion(proof["leaf_index"], head.size, leaf, path, head.root)

    code, _, err = await cdp("audit", "prove", "99", database_url=database_url)
    assert code == 1 and "not sealed" in err


async def test_a_consistency_proof_from_the_cli_links_two_signed_heads(
    database: Database, database_url: str
) -> None:
    await write(database, 3)
    await sealed(database)
    await write(database, 4)
    await sealed(database)
    code, out, err = await cdp("audit", "prove-consistency", "3", "7", database_url=database_url)
    assert code == 0, err
    proof = json.loads(out)
    old, new = TreeHead.from_document(proof["from"]), TreeHead.from_document(proof["to"])
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert merkle.verify_consistency(3, 7, old.root, new.root, path)
    code, _, err = await cdp("audit", "prove-consistency", "2", "7", database_url=database_url)
    assert code == 1 and "no signed head of size 2" in err


async def test_a_rotated_signing_key_signs_new_heads_and_old_ones_still_verify(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    keyring = tmp_path / "keyring.json"
    keyring.write_bytes(TEST_KEYRING_PATH.read_bytes())
    await write(database, 2)
    code, _, err = await cdp("audit", "seal", database_url=database_url, keyring=keyring)
    assert code == 0, err
    code, out, err = await cdp("audit", "rotate-key", database_url=database_url, keyring=keyring)
    assert code == 0, err
    assert "key version 2" in out
    code, _, err = await cdp("audit", "seal", database_url=database_url, keyring=keyring)
    assert code == 0, err
    async with database.transaction() as session:
        versions = (await session.execute(sa.select(HEADS.c.key_version))).scalars().all()
    assert list(versions) == [1, 2]
    code, public, _ = await cdp("audit", "public-key", database_url=database_url, keyring=keyring)
    assert set(json.loads(public)["keys"]) == {"1", "2"}
    args = ("audit", "verify", "--public-key", public)
    code, out, err = await cdp(*args, database_url=database_url, keyring=None)
    assert code == 0, err


async def test_verify_refuses_an_unusable_public_key_with_a_clear_message(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": {"1": "not a pem"}}', encoding="utf-8")
    code, _, err = await cdp(
        "audit", "verify", "--public-key", str(bad), database_url=database_url, keyring=None
    )
    assert code == 2 and "public key" in err and "Traceback" not in err


async def test_cdp_serve_seals_what_requests_write_within_two_seconds_and_readyz_shows_the_lag(
    settings: Settings, database: Database, keystore: KeyStore
) -> None:
    quick = settings.model_copy(update={"audit_seal_interval_seconds": 0.1})
    app = create_app(quick, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://cdp") as client,
    ):
        await write(database, 3)
        for _ in range(40):
            async with database.transaction() as session:
                waiting = await session.scalar(
                    sa.select(sa.func.count()).where(AUDIT.c.leaf_index.is_(None))
                )
            if not waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting == 0, "the records were not sealed within two seconds"
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["auditSealingLagSeconds"] == 0


async def test_readyz_reports_how_long_the_oldest_unsealed_record_has_waited(
    client_for: ClientFactory, database: Database
) -> None:
    await write(database, 1)
    await asyncio.sleep(0.2)
    lag = (await client_for(None).get("/readyz")).json()["auditSealingLagSeconds"]
    assert lag >= 0.2
    await sealed(database)
    assert (await client_for(None).get("/readyz")).json()["auditSealingLagSeconds"] == 0


async def test_another_sealer_takes_over_when_one_stops(database: Database) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    sealers = [
        asyncio.create_task(seal_until(database, lambda: TEST_KEYRING, interval=0.05, stop=stop))
        for stop in (first, second)
    ]
    await write(database, 2)
    first.set()  # one process stops (or dies): the other keeps sealing
    await sealers[0]
    await write(database, 3)
    for _ in range(60):
        async with database.transaction() as session:
            waiting = await session.scalar(
                sa.select(sa.func.count()).where(AUDIT.c.leaf_index.is_(None))
            )
        if not waiting:
            break
        await asyncio.sleep(0.05)
    second.set()
    await sealers[1]
    assert waiting == 0
    async with database.transaction() as session:
        indexes = sorted((await session.execute(sa.select(AUDIT.c.leaf_index))).scalars())
    assert indexes == list(range(5))
