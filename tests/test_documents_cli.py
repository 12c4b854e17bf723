"""`cdp documents register FILE --role ...` as a brand's operator runs it: each document checked
against the schema and the policy before anything is stored, stored under its SHA-256, audited,
and registering it again changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from cdp.db import Database
from cdp.documents.registry import TrustedDocument
from tests.conftest import KEYSTORES, TEST_JWT_SECRET, TEST_KEYRING_PATH
from tests.support.audit_log import audit_rows

MINI_PROGRAM = """
query MiniMe { me { id tier points { balance } ...Coupons } }

fragment Coupons on Profile { coupons(status: AVAILABLE, first: 10) { items { id title } } }

mutation MiniConsent($input: UpdateMyConsentsInput!) {
  updateMyConsents(input: $input) { id }
}
"""


async def documents(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CDP_DATABASE_URL": database_url,
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
        "CDP_KEYRING": str(TEST_KEYRING_PATH),
        **({"CDP_KEYSTORE_URL": KEYSTORES[database_url]} if database_url in KEYSTORES else {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdp",
        "documents",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def stored(database: Database) -> list[TrustedDocument]:
    async with database.transaction() as session:
        return list((await session.scalars(sa.select(TrustedDocument))).all())


async def test_a_mini_programs_file_registers_each_operation_under_its_hash_once(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "mini.graphql"
    source.write_text(MINI_PROGRAM, encoding="utf-8")
    code, out, err = await documents(
        "register", str(source), "--role", "customer", database_url=database_url
    )
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(name, outcome) for _, name, outcome in lines] == [
        ("MiniMe", "registered for customer"),
        ("MiniConsent", "registered for customer"),
    ]
    rows = {row.id: row for row in await stored(database)}
    assert set(rows) == {key for key, _, _ in lines}
    for key, row in rows.items():
        assert key == "sha256:" + hashlib.sha256(row.document.encode()).hexdigest()
        assert row.roles == ["customer"]
    assert "fragment Coupons on Profile" in rows[lines[0][0]].document
    records = [r for r in await audit_rows(database) if r["action"] == "document.register"]
    assert [r["actor_role"] for r in records] == ["operator", "operator"]
    assert {r["detail"]["document"] for r in records} == set(rows)

    again = await documents(
        "register", str(source), "--role", "customer", database_url=database_url
    )
    assert again[0] == 0 and "unchanged for customer" in again[1]
    records = [r for r in await audit_rows(database) if r["action"] == "document.register"]
    assert len(records) == 2

    wider = await documents(
        "register", str(source), "--role", "customer", "--role", "support",
        database_url=database_url,
    )  # fmt: skip
    assert wider[0] == 1 and "Query.me" in wider[2]  # support may never run `me`
    listed = await documents("list", database_url=database_url)
    assert listed[0] == 0 and "MiniMe\tcustomer\t" in listed[1]


async def test_a_field_the_policy_denies_every_registered_role_is_refused(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "support.graphql"
    source.write_text(
        'query Desk($id: ID!) { profile(id: $id, purpose: "工单") { id birthday } }',
        encoding="utf-8",
    )
    code, _, err = await documents(
        "register", str(source), "--role", "support", database_url=database_url
    )
    assert code == 1
    assert "Profile.birthday" in err and "support" in err and "nothing registered" in err
    assert await stored(database) == []
    # Compliance sees the birth year: for both roles the field can answer, and it registers.
    code, _, err = await documents(
        "register", str(source), "--role", "support", "--role", "compliance",
        database_url=database_url,
    )  # fmt: skip
    assert code == 0, err
    assert [row.roles for row in await stored(database)] == [["compliance", "support"]]


async def test_a_document_the_schema_refuses_is_not_registered(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    for text in ("query { me { nothing } }", "query { me { id ", "{ __schema { types { name } } }"):
        source = tmp_path / "bad.graphql"
        source.write_text(text, encoding="utf-8")
        code, _, err = await documents(
            "register", str(source), "--role", "customer", database_url=database_url
        )
        assert code == 1 and err.startswith("cdp: "), (text, err)
    assert await stored(database) == []


async def test_a_json_manifest_registers_under_its_ids_and_a_stale_id_is_refused(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    text = "query Tier { me { tier } }"
    digest = hashlib.sha256(text.encode()).hexdigest()
    manifest = tmp_path / "persisted-documents.json"
    stale = {digest: text + " "}  # another text cannot take this id
    manifest.write_text(json.dumps(stale), encoding="utf-8")
    code, _, err = await documents(
        "register", str(manifest), "--role", "customer", database_url=database_url
    )
    assert code == 1 and "is not the SHA-256 of its document" in err
    manifest.write_text(json.dumps({digest: text}), encoding="utf-8")  # as codegen writes it
    code, out, err = await documents(
        "register", str(manifest), "--role", "customer", database_url=database_url
    )
    assert code == 0, err
    assert out.startswith(f"sha256:{digest}\tTier\tregistered")
    assert [row.document for row in await stored(database)] == [text]
