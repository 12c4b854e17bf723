"""The sealer: off the request path, it takes the committed records in `seq` order, links them
into the HMAC chain, appends them to the Merkle tree (RFC 9162) and signs the new tree head.

One sealer at a time across the deployment (a PostgreSQL advisory lock held for one round;
SQLite has one writer). A number no committed record holds is a write that rolled back: the
sealer fills it with an `audit.gap` record, after waiting for the writer holding it, if any
(`cdp.audit.gaps`), so the order never changes once sealed and nothing committed is passed
over. A sealer that dies mid-round rolls back; the next one starts over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import merkle, nodes
from cdp.audit.chain import CHAINED, GENESIS, canonical, link_hash_of
from cdp.audit.gaps import fill_gaps
from cdp.audit.models import AuditEvent, AuditNote, AuditTreeHead
from cdp.audit.signing import TreeHead, active_version, sign_head, sign_note
from cdp.crypto import Keyring
from cdp.db import Database, lock_key, utcnow

log = logging.getLogger(__name__)

SEAL_LOCK = lock_key("audit", "sealer")
SEAL_BATCH = 2000
LEGACY_NOTE = "legacy-chain"
_CONTENT = [getattr(AuditEvent, name) for name in CHAINED]
_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]


class LogChanged(RuntimeError):
    """The sealed records no longer match the latest signed head: the sealer refuses to seal
    over a log that was changed (run `cdp audit verify`)."""


async def _frontier(session: AsyncSession, head: AuditTreeHead | None) -> merkle.Frontier:
    if head is not None and head.frontier is not None:
        return [(int(size), bytes.fromhex(h)) for size, h in head.frontier]
    frontier: merkle.Frontier = []
    rows = await session.execute(
        sa.select(*_CONTENT)
        .where(col(AuditEvent.leaf_index).is_not(None))
        .order_by(col(AuditEvent.leaf_index))
    )
    for row in rows.mappings():
        frontier = merkle.frontier_append(frontier, merkle.leaf_hash(canonical(dict(row))))
    return frontier


async def _pending(session: AsyncSession, after: int) -> list[dict[str, Any]]:
    """The next unsealed records after seq `after`, by the primary key."""
    rows = await session.execute(
        sa.select(*_CONTENT, col(AuditEvent.prev_hash), col(AuditEvent.hash))
        .where(col(AuditEvent.seq) > after, col(AuditEvent.leaf_index).is_(None))
        .order_by(col(AuditEvent.seq))
        .limit(SEAL_BATCH)
    )
    return [dict(row) for row in rows.mappings()]


async def _last_sealed(session: AsyncSession, head: AuditTreeHead | None) -> tuple[int, int, bytes]:
    """(leaves sealed, seq of the last, its link): from the latest head and the primary key;
    by a scan for a log whose heads predate `last_seq` (or were removed). LogChanged when the
    records no longer match the head."""
    if head is not None and head.last_seq is not None:
        row = (
            await session.execute(
                sa.select(col(AuditEvent.leaf_index), col(AuditEvent.hash)).where(
                    col(AuditEvent.seq) == head.last_seq
                )
            )
        ).first()
        if row is None or row[0] != head.size - 1 or row[1] is None:
            raise LogChanged(
                f"record {head.last_seq}, the last the signed head of {head.size} holds, "
                "is gone or changed"
            )
        return head.size, head.last_seq, bytes(row[1])
    last = (
        await session.execute(
            sa.select(col(AuditEvent.leaf_index), col(AuditEvent.seq), col(AuditEvent.hash))
            .where(col(AuditEvent.leaf_index).is_not(None))
            .order_by(col(AuditEvent.leaf_index).desc())
            .limit(1)
        )
    ).first()
    size, last_seq, prev = (0, 0, GENESIS)
    if last is not None:
        size, last_seq, prev = int(last[0] or 0) + 1, int(last[1]), bytes(last[2] or GENESIS)
    if head is not None and head.size != size:
        raise LogChanged(f"{size} records are sealed, the latest signed head names {head.size}")
    return size, last_seq, prev


async def _note_legacy_head(
    session: AsyncSession, keyring: Keyring, pending: list[dict[str, Any]], now: datetime
) -> None:
    """The first seal over records the HMAC chain linked before the tree (migration 0017):
    the chain's last head goes into a signed note, once."""
    linked = [row for row in pending if row["hash"] is not None]
    if not linked or await session.scalar(
        sa.select(col(AuditNote.id)).where(col(AuditNote.kind) == LEGACY_NOTE)
    ):
        return
    body = {"seq": int(linked[-1]["seq"]), "head": bytes(linked[-1]["hash"]).hex()}
    session.add(
        AuditNote(
            kind=LEGACY_NOTE,
            body=body,
            at=now,
            key_version=active_version(keyring),
            signature=sign_note(keyring, kind=LEGACY_NOTE, body=body, at=now),
        )
    )


_LINK_BATCH = sa.text(
    """UPDATE audit_events AS e
       SET leaf_index = v.leaf_index, prev_hash = v.prev_hash, hash = v.hash
       FROM unnest(CAST(:seqs AS bigint[]), CAST(:leaves AS bigint[]),
                   CAST(:prevs AS bytea[]), CAST(:hashes AS bytea[]))
            AS v(seq, leaf_index, prev_hash, hash)
       WHERE e.seq = v.seq"""
)


async def _apply(session: AsyncSession, dialect: str, updates: list[dict[str, Any]]) -> None:
    """Write the batch's leaves and links: on PostgreSQL one statement over arrays (the
    sealer's throughput is what bounds the lag), elsewhere one executemany."""
    if dialect == "postgresql":
        await session.execute(
            _LINK_BATCH,
            {
                "seqs": [u["at_seq"] for u in updates],
                "leaves": [u["leaf_index"] for u in updates],
                "prevs": [u["prev_hash"] for u in updates],
                "hashes": [u["hash"] for u in updates],
            },
        )
        return
    await session.execute(sa.update(_TABLE).where(_TABLE.c.seq == sa.bindparam("at_seq")), updates)


async def seal(database: Database, keyring: Keyring) -> TreeHead | None:
    """Seal what is committed and unsealed; the new signed head, or None when there was
    nothing to seal or another sealer holds the lock. LogChanged when the sealed records do
    not match the latest head."""
    async with database.transaction() as session:
        if database.dialect == "postgresql":
            held = await session.scalar(
                sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEAL_LOCK}
            )
            if not held:
                return None
            # A writer that holds a number and never ends must not stop the sealer for good.
            await session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        head = (
            await session.execute(
                sa.select(AuditTreeHead).order_by(col(AuditTreeHead.id).desc()).limit(1)
            )
        ).scalar_one_or_none()
        size, last_seq, prev = await _last_sealed(session, head)
        pending = await _pending(session, last_seq)
        while await fill_gaps(session, last_seq, [int(row["seq"]) for row in pending]):
            pending = await _pending(session, last_seq)
        pending = await _pending(session, last_seq)  # with the gaps just filled
        chosen: list[dict[str, Any]] = []
        for row in pending:
            if int(row["seq"]) != last_seq + len(chosen) + 1:
                break
            chosen.append(row)
        if not chosen:
            return None
        now = utcnow()
        await _note_legacy_head(session, keyring, chosen, now)
        frontier = await _frontier(session, head)
        updates, completed = [], []
        for offset, row in enumerate(chosen):
            data, link = canonical(row), row["hash"]
            if link is None:  # linked now; a record of the old chain keeps its link
                link = link_hash_of(keyring.audit_key, prev, data)
            updates.append(
                {
                    "at_seq": row["seq"],
                    "leaf_index": size + offset,
                    "prev_hash": row["prev_hash"] if row["hash"] is not None else prev,
                    "hash": link,
                }
            )
            prev = link
            frontier, done = merkle.frontier_grow(frontier, merkle.leaf_hash(data))
            completed += nodes.completed_rows(done, size + offset)
        await _apply(session, database.dialect, updates)
        await nodes.store(session, completed)
        signed = sign_head(
            keyring, size=size + len(chosen), root=merkle.frontier_root(frontier), at=now
        )
        if head is not None and head.frontier is not None:
            # Only the latest head needs its frontier: heads are signed every round or two.
            await session.execute(
                sa.update(AuditTreeHead)
                .where(col(AuditTreeHead.id) == head.id)
                .values(frontier=None)
            )
        session.add(
            AuditTreeHead(
                size=signed.size,
                root=signed.root,
                at=signed.at,
                key_version=signed.key_version,
                signature=signed.signature,
                frontier=[[n, h.hex()] for n, h in frontier],
                last_seq=int(chosen[-1]["seq"]),
            )
        )
        return signed


async def sealing_lag(database: Database) -> timedelta:
    """How long the oldest unsealed record has waited (zero when all are sealed): one lookup
    by the primary key after the latest head's last seq."""
    async with database.transaction() as session:
        after = await session.scalar(
            sa.select(col(AuditTreeHead.last_seq)).order_by(col(AuditTreeHead.id).desc()).limit(1)
        )
        oldest = await session.scalar(
            sa.select(col(AuditEvent.occurred_at))
            .where(col(AuditEvent.seq) > (after or 0), col(AuditEvent.leaf_index).is_(None))
            .order_by(col(AuditEvent.seq))
            .limit(1)
        )
    if oldest is None:
        return timedelta(0)
    return max(utcnow() - oldest, timedelta(0))


async def seal_until(
    database: Database,
    keyring: Callable[[], Keyring],
    *,
    interval: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Seal every `interval` seconds until `stop` is set (or forever): `cdp serve` runs this
    in each process, `cdp audit seal --follow` on its own; one at a time gets the lock.
    `keyring` is asked each round (a rotated signing key is used from the next one)."""
    while stop is None or not stop.is_set():
        try:
            while await seal(database, keyring()) is not None:
                pass  # a full batch: more may be waiting
        except LogChanged as exc:
            log.error("audit sealer stopped sealing: %s", exc)
        except (DBAPIError, OSError) as exc:
            log.warning("audit sealer round failed, retrying: %s", exc.__class__.__name__)
        except Exception:  # a sealer that dies would leave the log unsealed
            log.exception("audit sealer round failed unexpectedly, retrying")
        try:
            if stop is None:
                await asyncio.sleep(interval)
            else:
                await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
