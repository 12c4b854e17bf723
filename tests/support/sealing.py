"""Sealing the audit log from a test, as the sealer of a running cdp does within a second."""

from __future__ import annotations

from typing import Any

from cdp.audit import merkle
from cdp.audit.sealer import seal
from cdp.audit.verify import Verdict, verify_chain
from cdp.db import Database
from tests.conftest import TEST_KEYRING


async def sealed(database: Database) -> None:
    """Link and seal every committed record."""
    while await seal(database, TEST_KEYRING) is not None:
        pass


async def sealed_verdict(database: Database) -> Verdict:
    """The keyed check of the whole log once every committed record is sealed."""
    await sealed(database)
    verdict = await verify_chain(database, TEST_KEYRING.audit_key)
    assert verdict.unsealed == 0, verdict
    return verdict


def inclusion_holds(proof: dict[str, Any]) -> bool:
    """Whether an inclusion proof (as `cdp.audit.tree.inclusion` gives it) holds against the
    head it names."""
    head = proof["tree_head"]
    return merkle.verify_inclusion(
        proof["leaf_index"],
        head["size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(head["root"]),
    )


def consistency_holds(between: dict[str, Any]) -> bool:
    """Whether a consistency proof (`cdp.audit.tree.consistency`) links its two heads."""
    return merkle.verify_consistency(
        between["from"]["size"],
        between["to"]["size"],
        bytes.fromhex(between["from"]["root"]),
        bytes.fromhex(between["to"]["root"]),
        [bytes.fromhex(p) for p in between["proof"]],
    )
