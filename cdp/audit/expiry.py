"""Expiring the oldest audit records (retention) without losing the log's verifiability.

The records of the oldest sealed stretch are deleted and summarised into one signed note,
`expired`: the seq of the last record expired, the frontier of the Merkle tree their leaves
formed (`cdp.audit.pruned` computes every later root and proof from it), and that record's
chain link with a MAC under the audit key (the HMAC chain continues from it). The note is
signed with the tree's Ed25519 key; each expiry replaces it with one that covers more.

Only sealed records inside the latest signed head expire, never the head's last record (the
sealer continues from it), and only under the sealer's lock, so sealing and expiry never
interleave. On PostgreSQL a month goes whole (`expire_partition`): its partition is dropped
only in the transaction that summarised every record up to its last into the note.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp import partitions
from cdp.audit import merkle
from cdp.audit.chain import CHAINED, canonical
from cdp.audit.models import AuditEvent, AuditNote, AuditTreeHead
from cdp.audit.signing import active_version, sign_note
from cdp.crypto import Keyring
from cdp.db import lock_key, utcnow
from cdp.partitions import Partition

EXPIRED_NOTE = "expired"
SEAL_LOCK = lock_key("audit", "sealer")  # the sealer's (cdp.audit.sealer)
_CONTENT = [getattr(AuditEvent, name) for name in CHAINED]


@dataclass(frozen=True)
class Expired:
    """What the `expired` note says: records up to `seq` are gone, `frontier` stands for
    their leaves, and the chain continues from `chain` (the link of record `seq`)."""

    seq: int
    frontier: merkle.Frontier
    chain: bytes
    chain_mac: str
    records: int

    @property
    def leaves(self) -> int:
        return sum(size for size, _ in self.frontier)

    def mac_holds(self, key: bytes) -> bool:
        return hmac.compare_digest(self.chain_mac, chain_mac(key, self.seq, self.chain))


def chain_mac(key: bytes, seq: int, link: bytes) -> str:
    message = f"cdp-audit-expired|{seq}|{link.hex()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def expired_of_body(body: dict[str, Any]) -> Expired:
    return Expired(
        seq=int(body["seq"]),
        frontier=[(int(size), bytes.fromhex(node)) for size, node in body["frontier"]],
        chain=bytes.fromhex(body["chain"]),
        chain_mac=str(body["chainMac"]),
        records=int(body["records"]),
    )


async def expired_note(session: AsyncSession) -> AuditNote | None:
    return await session.scalar(sa.select(AuditNote).where(col(AuditNote.kind) == EXPIRED_NOTE))


async def current_expiry(session: AsyncSession) -> Expired | None:
    note = await expired_note(session)
    return None if note is None else expired_of_body(note.body)


async def expirable(session: AsyncSession, before: datetime, *, limit: int) -> list[int]:
    """The seqs of up to `limit` records that may expire now, oldest first: sealed, inside
    the latest head but not its last, older than `before`, and unbroken from the start."""
    head_last = await session.scalar(
        sa.select(col(AuditTreeHead.last_seq)).order_by(col(AuditTreeHead.id).desc()).limit(1)
    )
    if head_last is None:
        return []
    prior = await current_expiry(session)
    after = 0 if prior is None else prior.seq
    rows = await session.execute(
        sa.select(col(AuditEvent.seq), col(AuditEvent.occurred_at), col(AuditEvent.leaf_index))
        # Only the old ones are read: a younger record among them shows as a hole in the seqs.
        .where(
            col(AuditEvent.seq) > after,
            col(AuditEvent.seq) < head_last,
            col(AuditEvent.occurred_at) < before,
        )
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    seqs: list[int] = []
    for seq, occurred_at, leaf_index in rows:
        if occurred_at >= before or leaf_index is None or seq != after + len(seqs) + 1:
            break
        seqs.append(int(seq))
    return seqs


async def _summarise(
    session: AsyncSession,
    keyring: Keyring,
    prior: Expired | None,
    last: int,
    before: datetime,
) -> int:
    """Replace the `expired` note with one that also covers the records after the prior
    note's up to `last` (all present and sealed, read in batches); how many it added."""
    frontier: merkle.Frontier = [] if prior is None else list(prior.frontier)
    after = 0 if prior is None else prior.seq
    first, last_link = after, b""
    while after < last:
        rows = (
            await session.execute(
                sa.select(*_CONTENT, col(AuditEvent.leaf_index), col(AuditEvent.hash))
                .where(col(AuditEvent.seq) > after, col(AuditEvent.seq) <= last)
                .order_by(col(AuditEvent.seq))
                .limit(2000)
            )
        ).mappings()
        read = 0
        for row in rows:
            if row["seq"] != after + 1 or row["leaf_index"] != sum(s for s, _ in frontier):
                raise ValueError(f"record {after + 1} is not the next leaf: run `cdp audit verify`")
            frontier = merkle.frontier_append(frontier, merkle.leaf_hash(canonical(dict(row))))
            last_link, after, read = bytes(row["hash"]), int(row["seq"]), read + 1
        if not read:
            raise ValueError(f"record {after + 1} is missing: run `cdp audit verify`")
    now = utcnow()
    body = {
        "seq": last,
        "frontier": [[size, node.hex()] for size, node in frontier],
        "chain": last_link.hex(),
        "chainMac": chain_mac(keyring.audit_key, last, last_link),
        "records": (0 if prior is None else prior.records) + last - first,
        "before": before.isoformat(),
    }
    await session.execute(sa.delete(AuditNote).where(col(AuditNote.kind) == EXPIRED_NOTE))
    session.add(
        AuditNote(
            kind=EXPIRED_NOTE,
            body=body,
            at=now,
            key_version=active_version(keyring),
            signature=sign_note(keyring, kind=EXPIRED_NOTE, body=body, at=now),
        )
    )
    return last - first


async def _seal_lock(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})


async def expire_before(
    session: AsyncSession, keyring: Keyring, before: datetime, *, limit: int = 2000
) -> int:
    """Expire up to `limit` of the oldest records older than `before`; how many. Waits for
    the sealer's lock on PostgreSQL (held to the end of the transaction)."""
    await _seal_lock(session)
    seqs = await expirable(session, before, limit=limit)
    if not seqs:
        return 0
    await _summarise(session, keyring, await current_expiry(session), seqs[-1], before)
    await session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) <= seqs[-1]))
    await session.flush()
    return len(seqs)


async def expire_partition(session: AsyncSession, keyring: Keyring, part: Partition) -> int | None:
    """PostgreSQL: expire a month of records whole (its partition ends before the cutoff):
    every record up to the month's last seq is summarised into the note, then the partition
    is dropped, and the few records of those numbers that a transaction open across the
    month's end wrote into the next month are deleted. How many records expired; None when
    the month cannot go yet (a record up to its last not sealed, or the latest head's last)."""
    await _seal_lock(session)
    head_last = await session.scalar(
        sa.select(col(AuditTreeHead.last_seq)).order_by(col(AuditTreeHead.id).desc()).limit(1)
    )
    top = await session.scalar(sa.text(f"SELECT max(seq) FROM {part.name}"))
    prior = await current_expiry(session)
    after = 0 if prior is None else prior.seq
    if top is None or int(top) <= after:  # empty, or expired row by row already
        await partitions.drop(session, part)
        return 0
    if head_last is None or int(top) >= head_last:
        return None
    present, unsealed = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(col(AuditEvent.leaf_index).is_(None)),
            ).where(col(AuditEvent.seq) > after, col(AuditEvent.seq) <= int(top))
        )
    ).one()
    if unsealed or present != int(top) - after:
        return None
    done = await _summarise(session, keyring, prior, int(top), part.end)
    await session.flush()
    await partitions.drop(session, part)
    await session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) <= int(top)))
    return done
