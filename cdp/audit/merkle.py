"""The Merkle tree of the audit log, as RFC 9162 §2.1 defines it: leaf and node hashes with
distinct prefixes, the tree head of the first n leaves, inclusion and consistency proofs, and
their verifiers (§2.1.3.2 and §2.1.4.2), which need nothing but hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes given (already `leaf_hash`ed)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        # Pairing left to right and carrying an odd last node up gives RFC 9162's MTH.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


Frontier = list[tuple[int, bytes]]  # the perfect subtrees' (size, root), largest first


def frontier_append(frontier: Frontier, leaf: bytes) -> Frontier:
    """The frontier after one more leaf: equal neighbours merge, as a binary counter carries."""
    return frontier_grow(frontier, leaf)[0]


def frontier_grow(frontier: Frontier, leaf: bytes) -> tuple[Frontier, Frontier]:
    """The frontier after one more leaf, and the perfect subtrees that leaf completed (each
    (size, root), smallest first; every one ends at the new leaf)."""
    merged, completed = [*frontier, (1, leaf)], []
    while len(merged) > 1 and merged[-1][0] == merged[-2][0]:
        (size, left), (_, right) = merged[-2], merged[-1]
        merged[-2:] = [(size * 2, node_hash(left, right))]
        completed.append(merged[-1])
    return merged, completed


def frontier_root(frontier: Frontier) -> bytes:
    """MTH from the frontier alone: the subtrees folded from the right (RFC 9162 splits at
    the largest power of two, which is exactly the frontier's first subtree)."""
    if not frontier:
        return EMPTY_ROOT
    folded = frontier[-1][1]
    for _, subtree in reversed(frontier[:-1]):
        folded = node_hash(subtree, folded)
    return folded


RangeHash = Callable[[int, int], bytes]  # MTH of the leaves [a, b)


def hash_of_leaves(leaves: Sequence[bytes]) -> RangeHash:
    return lambda a, b: root(leaves[a:b])


def inclusion_path(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """PATH(index, D[size]), asking `mth` for the subtrees' roots it needs (O(log size) of
    them; each range it asks for starts at a multiple of the largest power of two below its
    length, so a store of perfect subtrees answers it)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    return _path(index, 0, size, mth)


def _path(m: int, a: int, b: int, mth: RangeHash) -> list[bytes]:
    if b - a == 1:
        return []
    k = split(b - a)
    if m < k:
        return [*_path(m, a, a + k, mth), mth(a + k, b)]
    return [*_path(m - k, a + k, b, mth), mth(a, a + k)]


def consistency_path(old_size: int, size: int, mth: RangeHash) -> list[bytes]:
    """PROOF(old_size, D[size]): that the tree of the first `old_size` leaves is a prefix."""
    if not 0 <= old_size <= size:
        raise ValueError(f"a tree of {size} has no prefix of {old_size}")
    if old_size in (0, size):
        return []
    return _subproof(old_size, 0, size, True, mth)


def _subproof(m: int, a: int, b: int, complete: bool, mth: RangeHash) -> list[bytes]:
    if m == b - a:
        return [] if complete else [mth(a, b)]
    k = split(b - a)
    if m <= k:
        return [*_subproof(m, a, a + k, complete, mth), mth(a + k, b)]
    return [*_subproof(m - k, a + k, b, False, mth), mth(a, a + k)]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]): the audit path of leaf `index` in the tree of `leaves`."""
    return inclusion_path(index, len(leaves), hash_of_leaves(leaves))


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first `old_size` leaves is a prefix of this one."""
    return consistency_path(old_size, len(leaves), hash_of_leaves(leaves))


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether `leaf` (a leaf hash) is leaf `index` of the tree head."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of `old_size` is a prefix of the tree of `new_size`."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
