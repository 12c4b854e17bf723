"""The audit table. No foreign key to profiles: the record of an access outlives the person's
erasure (it holds the surrogate id only, never a personal value)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime

HASH_BYTES = 32


class AuditEvent(SQLModel, table=True):
    """One record. Written by the request without its links; the sealer sets `prev_hash`,
    `hash` = HMAC(audit key, `prev_hash` + canonical record) and `leaf_index` in `seq` order.
    On PostgreSQL partitioned by month of `occurred_at` (cdp.partitions): the primary key is
    (seq, occurred_at) there, `seq` unique by its sequence (gaps: cdp.audit.gaps)."""

    __tablename__ = "audit_events"

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    occurred_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))
    request_id: str | None = Field(default=None, max_length=64)
    actor_subject: str = Field(max_length=128, index=True)
    actor_role: str = Field(max_length=32)
    action: str = Field(max_length=64, index=True)
    profile_id: int | None = Field(default=None, index=True)
    fields: list[dict[str, str]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    purpose: str | None = Field(default=None, max_length=200)
    outcome: str = Field(max_length=32)
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    prev_hash: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary(HASH_BYTES), nullable=True)
    )
    hash: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary(HASH_BYTES), nullable=True)
    )
    # Set by the sealer (cdp.audit.sealer): the record's place among the Merkle tree's leaves.
    # Deliberately not indexed: the sealer's update (links and leaf) then touches no index and
    # stays a HOT update on PostgreSQL (fillfactor 80, migration 0017). It finds its place by
    # the latest head's `last_seq` and the primary key instead.
    leaf_index: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))


class AuditTreeHead(SQLModel, table=True):
    """A signed tree head: the Merkle root of the first `size` records, signed with Ed25519
    (`cdp.audit.signing`)."""

    __tablename__ = "audit_tree_heads"

    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    root: bytes = Field(sa_column=sa.Column(sa.LargeBinary(HASH_BYTES), nullable=False))
    at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    key_version: int = Field(nullable=False)
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary(64), nullable=False))
    # The seq of the last record this head holds (leaves are sealed in seq order): where the
    # next seal starts. Null on heads signed before migration 0017.
    last_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    # The perfect subtrees' roots of this tree ([size, hex] pairs, `merkle.Frontier`): the next
    # seal extends the tree from them without reading every leaf again. Not signed: a wrong
    # one yields a root that no longer matches the leaves, which verify finds.
    frontier: list[list[Any]] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )


class AuditTreeNode(SQLModel, table=True):
    """The root of one perfect subtree of the Merkle tree (`cdp.audit.nodes`): leaves
    [position * 2**level, (position + 1) * 2**level). Written by the sealer with the leaves
    it completes, so that a proof reads O(log n) nodes instead of every record. Not signed
    and not trusted: a wrong node makes a proof that fails against the signed head."""

    __tablename__ = "audit_tree_nodes"

    level: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True))
    position: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(HASH_BYTES), nullable=False))


class AuditNote(SQLModel, table=True):
    """A statement the sealer signed once (Ed25519), e.g. `legacy-chain`: the head the HMAC
    chain had when the Merkle tree took over."""

    __tablename__ = "audit_notes"
    __table_args__ = (sa.UniqueConstraint("kind", name="uq_audit_notes_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, nullable=False)
    body: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    key_version: int = Field(nullable=False)
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary(64), nullable=False))
