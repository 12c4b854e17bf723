"""Sealing the audit log from a test, as the sealer of a running cdp does within a second."""

from __future__ import annotations

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
