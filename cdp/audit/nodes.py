"""The stored perfect subtrees of the audit log's Merkle tree, and proofs built from them.

The sealer stores the root of every perfect subtree of `2**STORED_LEVEL` leaves or more as it
completes it (about one row per 128 records). A proof then needs O(log n) of those roots and
at most a few windows of fewer than `2**STORED_LEVEL` leaves, recomputed from the records'
content, instead of every record of the log. Nothing here is trusted: the proof is checked
against the signed head, so a wrong node or record only makes a proof that fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import merkle
from cdp.audit.chain import CHAINED, canonical
from cdp.audit.models import AuditEvent, AuditTreeNode
from cdp.audit.pruned import prefix_hash, pruned_size

STORED_LEVEL = 8  # subtrees of 256 leaves and up are stored; smaller ones are recomputed
_SMALL = 1 << STORED_LEVEL
_CONTENT = [*(getattr(AuditEvent, name) for name in CHAINED), col(AuditEvent.leaf_index)]
_NODES = AuditTreeNode.__table__  # type: ignore[attr-defined]
_PLACEHOLDER = bytes(merkle.HASH_SIZE)
T = TypeVar("T")


def completed_rows(completed: merkle.Frontier, last_leaf: int) -> list[dict[str, Any]]:
    """The rows to store for the subtrees leaf `last_leaf` completed (`merkle.frontier_grow`)."""
    return [
        {"level": size.bit_length() - 1, "position": (last_leaf + 1 - size) // size, "hash": h}
        for size, h in completed
        if size >= _SMALL
    ]


async def store(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(sa.insert(_NODES), rows)


def _pieces(a: int, b: int, nodes: set[tuple[int, int]], leaves: set[int]) -> None:
    """Split MTH(a, b) into stored subtrees and the leaves of the small rest."""
    n = b - a
    if n >= _SMALL and n & (n - 1) == 0 and a % n == 0:
        nodes.add((n.bit_length() - 1, a // n))
    elif n <= _SMALL:
        leaves.update(range(a, b))
    else:
        k = merkle.split(n)
        _pieces(a, a + k, nodes, leaves)
        _pieces(a + k, b, nodes, leaves)


async def _stored(
    session: AsyncSession, wanted: set[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(_NODES.c.level, _NODES.c.position, _NODES.c.hash).where(
            sa.tuple_(_NODES.c.level, _NODES.c.position).in_(sorted(wanted))
        )
    )
    return {(int(level), int(pos)): bytes(h) for level, pos, h in rows}


def _windows(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of leaf indexes as [a, b) windows."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


async def _leaf_hashes(
    session: AsyncSession, indexes: set[int], offset: int | None
) -> dict[int, bytes]:
    """The leaf hashes at these indexes, from the records' content. Leaves are sealed in seq
    order without holes, so leaf i is record `i + offset` (found by the primary key); a log
    where that does not hold (records sealed before the tree) is read by its leaf index."""
    found: dict[int, bytes] = {}
    for a, b in _windows(indexes):
        where = [col(AuditEvent.leaf_index) >= a, col(AuditEvent.leaf_index) < b]
        if offset is not None:
            by_key = [col(AuditEvent.seq) >= a + offset, col(AuditEvent.seq) < b + offset]
            rows = (await session.execute(sa.select(*_CONTENT).where(*by_key, *where))).mappings()
            got = {int(r["leaf_index"]): r for r in map(dict, rows)}
            if len(got) < b - a:
                got = {}
        if offset is None or not got:
            rows = (await session.execute(sa.select(*_CONTENT).where(*where))).mappings()
            got = {int(r["leaf_index"]): r for r in map(dict, rows)}
        if len(got) < b - a:
            raise LookupError(f"records at leaves {a}..{b - 1} are missing: run cdp audit verify")
        found.update((i, merkle.leaf_hash(canonical(row))) for i, row in got.items())
    return found


async def answer(
    session: AsyncSession,
    offset: int | None,
    build: Callable[[merkle.RangeHash], T],
    expired: merkle.Frontier | None = None,
) -> T:
    """Run `build` (a proof made through a range hash) on the stored tree: once to learn the
    ranges it needs (a proof's shape depends on sizes, never on hashes), then for real.
    Leaves that expired under retention are answered from `expired`, their tree's frontier
    (cdp.audit.pruned); a proof must need nothing inside them but its subtrees."""
    asked: list[tuple[int, int]] = []
    expired = expired or []
    pruned = pruned_size(expired)

    def plan(a: int, b: int) -> bytes:
        asked.append((a, b))
        return _PLACEHOLDER

    def kept(a: int, b: int) -> list[tuple[int, int]]:
        """[a, b) as the ranges MTH splits it into that lie wholly after the expired prefix."""
        if b <= pruned:
            return []
        if a >= pruned:
            return [(a, b)]
        k = merkle.split(b - a)
        return [*kept(a, a + k), *kept(a + k, b)]

    build(plan)
    wanted: set[tuple[int, int]] = set()
    leaves: set[int] = set()
    for a, b in asked:
        for ka, kb in kept(a, b):
            _pieces(ka, kb, wanted, leaves)
    nodes = await _stored(session, wanted)
    for level, position in wanted - nodes.keys():  # sealed before nodes were stored
        size = 1 << level
        leaves.update(range(position * size, (position + 1) * size))
    hashes = await _leaf_hashes(session, leaves, offset)

    def mth(a: int, b: int) -> bytes:
        n = b - a
        if b <= pruned:
            return prefix_hash(expired, a, b)
        if a < pruned:
            k = merkle.split(n)
            return merkle.node_hash(mth(a, a + k), mth(a + k, b))
        if (n.bit_length() - 1, a // n) in nodes and n & (n - 1) == 0 and a % n == 0:
            return nodes[(n.bit_length() - 1, a // n)]
        if n == 1:
            return hashes[a]
        k = merkle.split(n)
        return merkle.node_hash(mth(a, a + k), mth(a + k, b))

    return build(mth)
