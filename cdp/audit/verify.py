"""Checking the chain end to end, and the signed checkpoints kept elsewhere that also catch a
truncated log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.chain import ChainVerifier, Problem, check_checkpoint_signature, checkpoint_document
from cdp.audit.expiry import current_expiry
from cdp.audit.models import AuditEvent
from cdp.db import Database, utcnow

BATCH = 2000


@dataclass(frozen=True)
class Verdict:
    checked: int
    head_seq: int
    head: bytes | None
    problem: Problem | None
    unsealed: int = 0  # committed, not linked by the sealer yet: reported, never skipped

    @property
    def intact(self) -> bool:
        return self.problem is None


async def verify_chain(
    database: Database, key: bytes, *, checkpoint: dict[str, Any] | None = None
) -> Verdict:
    """Walk every record in order; the first modified, deleted, inserted or reordered one.
    Records the sealer has not linked yet are counted (`unsealed`); they must all come after
    the linked ones.

    With a checkpoint (see `make_checkpoint`), records missing after it are found too.
    ValueError for a checkpoint that is not one, or not signed by this audit key.
    """
    watch = check_checkpoint_signature(key, checkpoint) if checkpoint is not None else None
    verifier = ChainVerifier(key, watch=watch[0] if watch else None)
    after, unsealed = 0, 0
    async with database.transaction() as session:
        expired = await current_expiry(session)
    if expired is not None:
        # The oldest records expired (retention): the chain continues from the link the
        # `expired` note kept for the last of them, which must carry this key's MAC.
        if not expired.mac_holds(key):
            verifier.problem = Problem(expired.seq, "the expired records' summary is not genuine")
        after = verifier.expected_seq - 1 + expired.seq
        verifier.expected_seq, verifier.prev_hash = expired.seq + 1, expired.chain
        if watch is not None and watch[0] <= expired.seq:
            # A checkpoint inside the expired stretch: what it named is summarised now.
            verifier.watched_hash = watch[1] if watch[0] < expired.seq else expired.chain
    columns = [c for c in AuditEvent.__table__.columns]  # type: ignore[attr-defined]
    while verifier.problem is None:
        async with database.transaction() as session:
            rows = (
                (
                    await session.execute(
                        sa.select(*columns)
                        .where(col(AuditEvent.seq) > after)
                        .order_by(col(AuditEvent.seq))
                        .limit(BATCH)
                    )
                )
                .mappings()
                .all()
            )
        if not rows:
            break
        for row in rows:
            if row["hash"] is None:
                unsealed += 1
                continue
            if unsealed:
                verifier.problem = Problem(
                    int(row["seq"]), "linked after a record not sealed yet (inserted)"
                )
                break
            if not verifier.feed(dict(row)):
                break
        after = int(rows[-1]["seq"])
    head_seq = verifier.expected_seq - 1
    problem = verifier.problem
    if problem is None and watch is not None:
        seq, head = watch
        if head_seq < seq:
            problem = Problem(
                head_seq + 1,
                f"records {head_seq + 1}..{seq} are missing "
                f"(the log was truncated after a checkpoint)",
            )
        elif verifier.watched_hash != head:
            problem = Problem(seq, "differs from the checkpoint kept for it")
    return Verdict(
        checked=verifier.checked,
        head_seq=head_seq,
        head=verifier.prev_hash if head_seq else None,
        problem=problem,
        unsealed=unsealed,
    )


async def make_checkpoint(database: Database, key: bytes) -> dict[str, Any]:
    """The signed head of an intact chain, to keep somewhere the database's owner cannot
    rewrite. ValueError when the chain is already broken."""
    verdict = await verify_chain(database, key)
    if verdict.problem is not None:
        raise ValueError(f"audit chain broken at {verdict.problem}")
    return checkpoint_document(key, verdict.head_seq, verdict.head or bytes(32), utcnow())
