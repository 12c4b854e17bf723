"""The signed Merkle tree of the audit log for compliance: the latest signed head, the public
keys that check it, and inclusion and consistency proofs, to hand to an outside auditor. Each
read is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from cdp.audit import tree
from cdp.audit.signing import TreeHead, public_keys_document
from cdp.errors import bad_input, not_found
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type

MAX_TREE_SIZE = 2**62


@object_type("AuditTreeHead", description="A signed tree head of the audit log (RFC 9162).")
class AuditTreeHeadType:
    size: int = strawberry.field(description="How many records the tree holds.")
    root: str = strawberry.field(description="The Merkle root, hex.")
    at: datetime = strawberry.field(description="When it was signed (UTC).")
    key_version: int = strawberry.field(description="The signing key's version.")
    signature: str = strawberry.field(description="The Ed25519 signature, base64.")

    @classmethod
    def of(cls, document: dict[str, Any]) -> AuditTreeHeadType:
        head = TreeHead.from_document(document)
        return cls(
            size=head.size,
            root=head.root.hex(),
            at=head.at,
            key_version=head.key_version,
            signature=document["signature"],
        )


@object_type("AuditPublicKey", description="A public key that checks signed tree heads.")
class AuditPublicKey:
    version: int = strawberry.field(description="The key version heads name.")
    pem: str = strawberry.field(description="The Ed25519 public key, PEM (SubjectPublicKeyInfo).")


@object_type(
    "AuditInclusionProof",
    description="That one record is a leaf of the tree under a signed head (RFC 9162 §2.1.3).",
)
class AuditInclusionProof:
    seq: int = strawberry.field(description="The record's seq.")
    leaf_index: int = strawberry.field(description="Its leaf's index in the tree, from 0.")
    leaf_hash: str = strawberry.field(
        description="SHA-256(0x00 || canonical record), hex: anyone holding the record "
        "recomputes it."
    )
    tree_head: AuditTreeHeadType = strawberry.field(description="The signed head proved against.")
    path: list[str] = strawberry.field(description="The audit path, hex, leaf to root.")


@object_type(
    "AuditConsistencyProof",
    description="That an older signed head's tree is a prefix of a newer one's (§2.1.4).",
)
class AuditConsistencyProof:
    older: AuditTreeHeadType = strawberry.field(description="The older signed head.")
    newer: AuditTreeHeadType = strawberry.field(description="The newer signed head.")
    path: list[str] = strawberry.field(description="The consistency proof, hex.")


@strawberry.type
class AuditTreeQueries:
    @strawberry.field(
        description="The latest signed head of the audit log's Merkle tree; null before the "
        "first seal. Compliance role only; audited."
    )
    async def audit_tree_head(self, info: Info) -> AuditTreeHeadType | None:
        async with info.context.uow.database.transaction() as session:
            head = await tree.latest_head(session)
        info.context.uow.trail.record(
            action="audit.read", detail={"treeHead": head.size if head else 0}
        )
        return None if head is None else AuditTreeHeadType.of(head.to_document())

    @strawberry.field(
        description="The public keys that check the signed heads, every version: give them "
        "to an outside auditor. Compliance role only; audited."
    )
    def audit_public_keys(self, info: Info) -> list[AuditPublicKey] | None:
        keys = public_keys_document(info.context.vault.keyring)["keys"]
        info.context.uow.trail.record(action="audit.read", detail={"publicKeys": len(keys)})
        return [AuditPublicKey(version=int(v), pem=pem) for v, pem in keys.items()]

    @strawberry.field(
        description="The inclusion proof of record `seq` against the latest signed head; "
        "NOT_FOUND while it is not sealed. Compliance role only; audited."
    )
    async def audit_inclusion_proof(
        self,
        info: Info,
        seq: Annotated[int, strawberry.argument(description="The record's seq, from 1.")],
    ) -> AuditInclusionProof | None:
        if not 1 <= seq <= MAX_TREE_SIZE:
            raise bad_input("seq is a record's number, from 1", field="seq")
        try:
            proof = await tree.inclusion(info.context.uow.database, seq)
        except LookupError as exc:
            raise not_found(str(exc.args[0])) from None
        info.context.uow.trail.record(action="audit.prove", detail={"seq": seq})
        return AuditInclusionProof(
            seq=seq,
            leaf_index=proof["leaf_index"],
            leaf_hash=proof["leaf_hash"],
            tree_head=AuditTreeHeadType.of(proof["tree_head"]),
            path=proof["proof"],
        )

    @strawberry.field(
        description="The consistency proof between the signed heads of sizes `fromSize` and "
        "`toSize`; NOT_FOUND when no head has one of them. Compliance role only; audited."
    )
    async def audit_consistency_proof(
        self,
        info: Info,
        from_size: Annotated[int, strawberry.argument(description="The older signed head's size.")],
        to_size: Annotated[int, strawberry.argument(description="The newer signed head's size.")],
    ) -> AuditConsistencyProof | None:
        if not 0 <= from_size <= to_size <= MAX_TREE_SIZE:
            raise bad_input("0 <= fromSize <= toSize", field="fromSize")
        try:
            proof = await tree.consistency(info.context.uow.database, from_size, to_size)
        except LookupError as exc:
            raise not_found(str(exc.args[0])) from None
        info.context.uow.trail.record(
            action="audit.prove", detail={"fromSize": from_size, "toSize": to_size}
        )
        return AuditConsistencyProof(
            older=AuditTreeHeadType.of(proof["from"]),
            newer=AuditTreeHeadType.of(proof["to"]),
            path=proof["proof"],
        )
