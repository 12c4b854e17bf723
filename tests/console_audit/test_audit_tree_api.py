"""The signed tree through the API: compliance reads the latest signed head and the public keys,
and fetches inclusion and consistency proofs that check with hashes and the public key alone;
an unsealed record or an unknown head is NOT_FOUND, a bad argument BAD_USER_INPUT; each read is
audited (both databases)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import sqlalchemy as sa

from cdp.audit import merkle
from cdp.audit.chain import canonical
from cdp.audit.signing import TreeHead, head_is_signed, load_public_keys
from cdp.db import Database
from tests.support.audit_log import AUDIT, Person, audit_rows, call, link_id, only_record
from tests.support.sealing import sealed

HEAD = "{ auditTreeHead { size root at keyVersion signature } }"
KEYS = "{ auditPublicKeys { version pem } }"
INCLUSION = """query P($seq: Int!) { auditInclusionProof(seq: $seq) {
  seq leafIndex leafHash path treeHead { size root at keyVersion signature } } }"""
CONSISTENCY = """query C($a: Int!, $b: Int!) { auditConsistencyProof(fromSize: $a, toSize: $b) {
  path older { size root at keyVersion signature }
  newer { size root at keyVersion signature } } }"""


def head_of(value: dict[str, Any]) -> TreeHead:
    return TreeHead.from_document(
        {
            "size": value["size"],
            "root": value["root"],
            "at": value["at"],
            "key_version": value["keyVersion"],
            "signature": value["signature"],
        }
    )


async def data(client: httpx.AsyncClient, query: str, **variables: Any) -> tuple[Any, str]:
    body, request_id = await call(client, query, variables or None)
    assert "errors" not in body, body
    return body["data"], request_id


async def test_compliance_proves_a_record_against_the_signed_head_with_the_public_key(
    database: Database, alice: Person, compliance_client: httpx.AsyncClient, service_client: Any
) -> None:
    await link_id(service_client, "oTreeApi00000000000000000001")
    await sealed(database)
    keys_answer, _ = await data(compliance_client, KEYS)
    pems = {str(k["version"]): k["pem"] for k in keys_answer["auditPublicKeys"]}
    public = load_public_keys(json.dumps({"keys": pems}))
    head_answer, request_id = await data(compliance_client, HEAD)
    head = head_of(head_answer["auditTreeHead"])
    assert (
        head_is_signed(head, public) and head.size == len(await audit_rows(database)) - 2
    )  # the two reads
    assert (await only_record(database, request_id))["action"] == "audit.read"

    answer, request_id = await data(compliance_client, INCLUSION, seq=2)
    proof = answer["auditInclusionProof"]
    async with database.transaction() as session:
        row = (await session.execute(sa.select(AUDIT).where(AUDIT.c.seq == 2))).mappings().one()
    leaf = merkle.leaf_hash(canonical(dict(row)))
    assert proof["leafHash"] == leaf.hex()
    proved = head_of(proof["treeHead"])
    assert head_is_signed(proved, public)
    path = [bytes.fromhex(p) for p in proof["path"]]
    assert merkle.verify_inclusion(proof["leafIndex"], proved.size, leaf, path, proved.root)
    audited = await only_record(database, request_id)
    assert (audited["action"], audited["detail"]) == ("audit.prove", {"seq": 2})
    assert base64.b64decode(proof["treeHead"]["signature"])


async def test_a_consistency_proof_links_an_older_head_to_a_newer_one(
    database: Database, alice: Person, compliance_client: httpx.AsyncClient
) -> None:
    await sealed(database)
    older, _ = await data(compliance_client, HEAD)
    await sealed(database)  # the read above is a record of its own
    newer, _ = await data(compliance_client, HEAD)
    a, b = older["auditTreeHead"]["size"], newer["auditTreeHead"]["size"]
    assert a < b
    answer, _ = await data(compliance_client, CONSISTENCY, a=a, b=b)
    proof = answer["auditConsistencyProof"]
    old, new = head_of(proof["older"]), head_of(proof["newer"])
    path = [bytes.fromhex(p) for p in proof["path"]]
    assert merkle.verify_consistency(a, b, old.root, new.root, path)


async def test_an_unsealed_record_or_an_unknown_head_is_not_found_and_bad_numbers_are_refused(
    database: Database, alice: Person, compliance_client: httpx.AsyncClient
) -> None:
    body, _ = await call(compliance_client, INCLUSION, {"seq": 10_000})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body, _ = await call(compliance_client, INCLUSION, {"seq": 0})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body, _ = await call(compliance_client, CONSISTENCY, {"a": 5, "b": 3})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body, _ = await call(compliance_client, CONSISTENCY, {"a": 1, "b": 999})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
