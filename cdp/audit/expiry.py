"""Expiring the oldest audit records (retention) without losing the log's verifiability.

The records of the oldest sealed stretch are deleted and summarised into one signed note,
`expired`: the seq of the last record expired, the frontier of the Merkle tree their leaves
formed (`cdp.audit.pruned` computes every later root and proof from it), and that record's
chain link with a MAC under the audit key (the HMAC chain continues from it). The note is
signed with the tree's Ed25519 key; each expiry replaces it with one that covers more.

Only sealed records inside the latest signed head expire, never the head's last record (the
sealer continues from it), and only under the sealer's lock, so sealing and expiry never
interleave.
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

from cdp.audit import merkle
from cdp.audit.chain import CHAINED, canonical
from cdp.audit.models import AuditEvent, AuditNote, AuditTreeHead
from cdp.audit.signing import active_version, sign_note
from cdp.crypto import Keyring
from cdp.db import lock_key, utcnow

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
        .where(col(AuditEvent.seq) > after, col(AuditEvent.seq) < head_last)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    seqs: list[int] = []
    for seq, occurred_at, leaf_index in rows:
        if occurred_at >= before or leaf_index is None or seq != after + len(seqs) + 1:
            break
        seqs.append(int(seq))
    return seqs


async def expire_before(
    session: AsyncSession, keyring: Keyring, before: datetime, *, limit: int = 2000
) -> int:
    """Expire up to `limit` of the oldest records older than `before`; how many. Waits for
    the sealer's lock on PostgreSQL (held to the end of the transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})
    seqs = await expirable(session, before, limit=limit)
    if not seqs:
        return 0
    prior = await current_expiry(session)
    rows = (
        await session.execute(
            sa.select(*_CONTENT, col(AuditEvent.leaf_index), col(AuditEvent.hash))
            .where(col(AuditEvent.seq).between(seqs[0], seqs[-1]))
            .order_by(col(AuditEvent.seq))
        )
    ).mappings()
    frontier: merkle.Frontier = [] if prior is None else list(prior.frontier)
    last_link = b""
    for row in rows:
        if row["leaf_index"] != sum(size for size, _ in frontier):
            raise ValueError(f"record {row['seq']} is not the next leaf: run `cdp audit verify`")
        frontier = merkle.frontier_append(frontier, merkle.leaf_hash(canonical(dict(row))))
        last_link = bytes(row["hash"])
    now, last = utcnow(), seqs[-1]
    body = {
        "seq": last,
        "frontier": [[size, node.hex()] for size, node in frontier],
        "chain": last_link.hex(),
        "chainMac": chain_mac(keyring.audit_key, last, last_link),
        "records": (0 if prior is None else prior.records) + len(seqs),
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
    await session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) <= last))
    await session.flush()
    return len(seqs)
