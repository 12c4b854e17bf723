"""The Merkle tree of a log whose oldest records have expired (retention): the first leaves
are gone, and the frontier of the tree they formed stands for them (its perfect subtrees'
roots, signed into the `expired` note). Every node a tree head, an inclusion proof or a
consistency proof needs from that prefix is one of those subtrees or a fold of adjacent ones
(a proof for a leaf, or from an older tree, no older than the prefix), so roots and proofs
come out exactly as for the whole tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdp.audit import merkle


def pruned_size(frontier: merkle.Frontier) -> int:
    return sum(size for size, _ in frontier)


def prefix_hash(frontier: merkle.Frontier, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) inside the expired prefix: the fold of the frontier's
    subtrees that cover it exactly (ValueError for a range that cuts one)."""
    covering, at = [], 0
    for size, node in frontier:
        if start <= at and at + size <= end:
            covering.append((size, node))
        elif at < end and start < at + size:
            raise ValueError(f"leaves {start}..{end - 1} expired (not a subtree kept)")
        at += size
    return merkle.frontier_root(covering)


@dataclass(frozen=True)
class PrunedLeaves:
    """The leaves of a tree: the frontier of the expired prefix, then `tail` (leaf hashes)."""

    frontier: merkle.Frontier
    tail: Sequence[bytes]

    @property
    def pruned(self) -> int:
        return pruned_size(self.frontier)

    def __len__(self) -> int:
        return self.pruned + len(self.tail)

    def root(self, start: int = 0, end: int | None = None) -> bytes:
        """MTH of leaves [start, end)."""
        end = len(self) if end is None else end
        if start >= end:
            return merkle.EMPTY_ROOT
        if end <= self.pruned:
            return prefix_hash(self.frontier, start, end)
        if start >= self.pruned:
            return merkle.root(self.tail[start - self.pruned : end - self.pruned])
        k = merkle.split(end - start)
        return merkle.node_hash(self.root(start, start + k), self.root(start + k, end))

    def hash_of(self, start: int, end: int) -> bytes:
        """`root` as a `merkle.RangeHash`, for the proofs."""
        return self.root(start, end)
