"""The audit log's Merkle tree follows RFC 9162 §2.1: its head matches the definition, every
inclusion and consistency proof verifies, and a changed leaf, proof, index or size does not."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from cdp.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = st.lists(st.binary(max_size=8), min_size=1, max_size=40).map(
    lambda data: [leaf_hash(d) for d in data]
)


def mth(leaves: list[bytes]) -> bytes:
    """The tree head exactly as RFC 9162 §2.1.1 writes it (recursive split at a power of two)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def test_leaves_and_nodes_are_hashed_with_distinct_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@given(LEAVES)
def test_the_root_is_the_tree_head_rfc_9162_defines(leaves: list[bytes]) -> None:
    assert root(leaves) == mth(leaves)


@given(LEAVES, st.data())
def test_every_leaf_s_inclusion_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(index, len(leaves), leaves[index], proof, root(leaves))


@given(LEAVES, st.data())
def test_an_inclusion_proof_fails_for_another_leaf_index_or_a_bent_path(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(index, leaves)
    head, size = root(leaves), len(leaves)
    assert not verify_inclusion(index, size, leaf_hash(b"forged"), proof, head)
    other = data.draw(st.integers(0, size))
    if other != index and other < size and leaves[other] != leaves[index]:
        assert not verify_inclusion(other, size, leaves[index], proof, head)
    if proof:
        bent = [bytes(32), *proof[1:]]
        assert not verify_inclusion(index, size, leaves[index], bent, head)
        assert not verify_inclusion(index, size, leaves[index], proof[:-1], head)


@given(LEAVES, st.data())
def test_every_prefix_s_consistency_proof_verifies(
    leaves: list[bytes], data: st.DataObject
) -> None:
    old = data.draw(st.integers(0, len(leaves)))
    proof = consistency_proof(old, leaves)
    assert verify_consistency(old, len(leaves), root(leaves[:old]), root(leaves), proof)


@given(LEAVES, st.data())
def test_a_rewritten_history_fails_the_consistency_proof(
    leaves: list[bytes], data: st.DataObject
) -> None:
    old = data.draw(st.integers(1, len(leaves)))
    changed = data.draw(st.integers(0, old - 1))
    forged = list(leaves)
    forged[changed] = leaf_hash(b"rewritten" + forged[changed])
    proof = consistency_proof(old, forged)
    assert not verify_consistency(old, len(leaves), root(leaves[:old]), root(forged), proof)
    honest = consistency_proof(old, leaves)
    if honest:
        bent = [bytes(32), *honest[1:]]
        assert not verify_consistency(old, len(leaves), root(leaves[:old]), root(leaves), bent)


def test_a_proof_for_a_leaf_or_prefix_outside_the_tree_is_refused() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    for bad in (-1, 5):
        try:
            inclusion_proof(bad, leaves)
        except ValueError:
            pass
        else:
            raise AssertionError("an index outside the tree was proven")
    assert not verify_consistency(6, 5, root(leaves), root(leaves), [])
    assert not verify_inclusion(5, 5, leaves[0], [], root(leaves))
