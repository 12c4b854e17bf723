"""Sealing the audit log into a Merkle tree (RFC 9162) under signed tree heads, proving one
record's inclusion or one head's consistency with a later one, and checking the whole log with
the public keys alone.

A record's leaf is `leaf_hash(canonical(record))`: anyone holding the records recomputes it,
no key needed. The sealer (`cdp.audit.sealer`) gives records their leaf indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import merkle, nodes
from cdp.audit.chain import CHAINED, Problem, canonical
from cdp.audit.expiry import current_expiry
from cdp.audit.models import AuditEvent, AuditNote, AuditTreeHead
from cdp.audit.pruned import PrunedLeaves
from cdp.audit.signing import TreeHead, head_is_signed, note_is_signed
from cdp.db import Database

_CONTENT = [getattr(AuditEvent, name) for name in CHAINED]


async def _expired_frontier(session: AsyncSession) -> merkle.Frontier:
    """What stands for the leaves that expired under retention (none: nothing expired)."""
    expired = await current_expiry(session)
    return [] if expired is None else expired.frontier


def _head_of(row: AuditTreeHead) -> TreeHead:
    return TreeHead(row.size, row.root, row.at, row.key_version, row.signature)


async def latest_head(session: AsyncSession) -> TreeHead | None:
    row = (
        await session.execute(
            sa.select(AuditTreeHead).order_by(col(AuditTreeHead.id).desc()).limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return _head_of(row)


async def inclusion(database: Database, seq: int) -> dict[str, Any]:
    """The inclusion proof of record `seq` against the latest signed head; LookupError when the
    record is not sealed (or not there)."""
    async with database.transaction() as session:
        head = await latest_head(session)
        index = await session.scalar(
            sa.select(col(AuditEvent.leaf_index)).where(col(AuditEvent.seq) == seq)
        )
        if head is None or index is None or index >= head.size:
            raise LookupError(f"record {seq} is not sealed yet")
        size = head.size
        leaf, proof = await nodes.answer(
            session,
            await _seq_offset(session),
            lambda mth: (mth(index, index + 1), merkle.inclusion_path(index, size, mth)),
            await _expired_frontier(session),
        )
    return {
        "seq": seq,
        "leaf_index": index,
        "leaf_hash": leaf.hex(),
        "tree_head": head.to_document(),
        "proof": [p.hex() for p in proof],
    }


async def _seq_offset(session: AsyncSession) -> int | None:
    """seq minus leaf index, the same for every leaf the sealer sealed (in seq order, holes
    filled), from the latest head that names its last record."""
    row = (
        await session.execute(
            sa.select(col(AuditTreeHead.size), col(AuditTreeHead.last_seq))
            .where(col(AuditTreeHead.last_seq).is_not(None))
            .order_by(col(AuditTreeHead.id).desc())
            .limit(1)
        )
    ).first()
    if row is None or row[1] is None:
        return None
    return int(row[1]) - (int(row[0]) - 1)


async def consistency(database: Database, from_size: int, to_size: int) -> dict[str, Any]:
    """The consistency proof between two signed heads of the given sizes; LookupError when no
    signed head has one of them."""
    async with database.transaction() as session:
        heads: dict[int, TreeHead] = {}
        for size in (from_size, to_size):
            row = (
                await session.execute(
                    sa.select(AuditTreeHead)
                    .where(col(AuditTreeHead.size) == size)
                    .order_by(col(AuditTreeHead.id))
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None or from_size > to_size:
                raise LookupError(f"no signed head of size {size} to prove from or to")
            heads[size] = _head_of(row)
        expired = await _expired_frontier(session)
        if from_size < sum(n for n, _ in expired):
            raise LookupError(f"the records of the head of size {from_size} have expired")
        proof = await nodes.answer(
            session,
            await _seq_offset(session),
            lambda mth: merkle.consistency_path(from_size, to_size, mth),
            expired,
        )
    return {
        "from": heads[from_size].to_document(),
        "to": heads[to_size].to_document(),
        "proof": [p.hex() for p in proof],
    }


@dataclass(frozen=True)
class TreeVerdict:
    size: int
    unsealed: int
    head: TreeHead | None
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _walk(rows: Sequence[dict[str, Any]], first: int = 0) -> tuple[list[bytes], Problem | None]:
    """The leaves of `rows`, which must hold leaf indexes `first`, `first` + 1, ..."""
    leaves: list[bytes] = []
    for row in rows:
        at = first + len(leaves)
        if row["leaf_index"] != at:
            seq = int(row["seq"])
            if row["leaf_index"] > at:
                return leaves, Problem(
                    seq, f"leaves {at}..{row['leaf_index'] - 1} are missing (deleted)"
                )
            return leaves, Problem(seq, "out of order")
        leaves.append(merkle.leaf_hash(canonical(row)))
    return leaves, None


async def verify_tree(
    database: Database,
    public_keys: dict[int, Ed25519PublicKey],
    *,
    checkpoint: TreeHead | None = None,
) -> TreeVerdict:
    """Recompute every sealed record's leaf and the root; the latest head must be signed and
    name that root; with a saved older head (`checkpoint`), it must be a prefix of today's.
    Unsealed records are counted, never skipped silently."""
    async with database.transaction() as session:
        stored = await session.execute(sa.select(AuditTreeHead).order_by(col(AuditTreeHead.id)))
        heads = [h for h in map(_head_of, stored.scalars()) if head_is_signed(h, public_keys)]
        head = await latest_head(session)
        rows = [
            dict(row)
            for row in (
                await session.execute(
                    sa.select(*_CONTENT, col(AuditEvent.leaf_index))
                    .where(col(AuditEvent.leaf_index).is_not(None))
                    .order_by(col(AuditEvent.leaf_index))
                )
            ).mappings()
        ]
        notes = (await session.execute(sa.select(AuditNote))).scalars().all()
        expired = await current_expiry(session)
        unsealed = int(
            await session.scalar(
                sa.select(sa.func.count()).where(col(AuditEvent.leaf_index).is_(None))
            )
            or 0
        )
    # Records that expired under retention are summarised by the signed `expired` note.
    tree = PrunedLeaves([] if expired is None else expired.frontier, [])
    leaves, problem = _walk(rows, tree.pruned)
    tree = PrunedLeaves(tree.frontier, leaves)

    def verdict(problem: Problem | None) -> TreeVerdict:
        return TreeVerdict(size=len(tree), unsealed=unsealed, head=head, problem=problem)

    if problem is not None:
        return verdict(problem)
    for note in notes:
        if not note_is_signed(
            note.kind, note.body, note.at, note.key_version, note.signature, public_keys
        ):
            return verdict(
                Problem(
                    int(note.body.get("seq", 0)), f"the {note.kind} note's signature does not hold"
                )
            )
    if head is None:
        return verdict(Problem(0, "no signed tree head") if len(tree) or checkpoint else None)
    if not head_is_signed(head, public_keys):
        return verdict(Problem(head.size, "the latest tree head's signature does not hold"))
    if head.size != len(tree):
        return verdict(
            Problem(
                min(head.size, len(tree)) + 1,
                f"the signed head names {head.size} records, the log holds {len(tree)}",
            )
        )
    if tree.root() != head.root:
        return verdict(_first_changed(rows, tree, heads))
    if checkpoint is not None:
        if not head_is_signed(checkpoint, public_keys):
            return verdict(Problem(checkpoint.size, "the checkpoint's signature does not hold"))
        if checkpoint.size > head.size:
            return verdict(
                Problem(
                    head.size + 1,
                    f"records {head.size + 1}..{checkpoint.size} are "
                    "missing (the log was truncated after a checkpoint)",
                )
            )
        if checkpoint.size < tree.pruned:
            return verdict(None)  # its records expired; the signed note stands for them
        proof = merkle.consistency_path(checkpoint.size, head.size, tree.hash_of)
        if not merkle.verify_consistency(
            checkpoint.size, head.size, checkpoint.root, head.root, proof
        ):
            return verdict(Problem(checkpoint.size, "differs from the checkpoint kept for it"))
    return verdict(None)


def _first_changed(
    rows: Sequence[dict[str, Any]], tree: PrunedLeaves, heads: Sequence[TreeHead]
) -> Problem:
    """Narrow a root mismatch with the earlier signed heads: the first one the records no
    longer match bounds the changed record from above, the one before it from below (heads
    older than the expired prefix cannot be recomputed and are passed over)."""
    pruned = tree.pruned
    below = 0
    for head in heads:
        if pruned <= head.size <= len(tree) and tree.root(0, head.size) != head.root:
            first = int(rows[below]["seq"])
            last = int(rows[head.size - 1 - pruned]["seq"])
            where = f"record {first}" if first == last else f"records {first}..{last}"
            return Problem(first, f"{where}: content does not match the signed tree (modified)")
        if head.size >= pruned:
            below = max(min(head.size - pruned, len(rows) - 1), 0)
    if not rows:
        return Problem(0, "the expired records' summary does not match the signed tree")
    return Problem(int(rows[0]["seq"]), "content does not match the signed tree (modified)")
