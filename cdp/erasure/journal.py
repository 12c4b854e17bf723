"""The erasure journal: what each erasure destroyed, kept in the key store (apart from the
database and its backups) and replayed against the database at start-up.

Append-only (the key store refuses UPDATE and DELETE) and signed: each entry's HMAC, under a
key derived from the keyring, covers its sequence number, its body and the entry before it,
so an entry altered, forged, removed or moved is found when the journal is read. No personal
data: internal ids, data-key ids, blind-index hashes, the request's public id and the staff
who requested and approved it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from cdp.crypto import Keyring
from cdp.db import utcnow
from cdp.keys.schema import erasure_journal
from cdp.keys.store import KeyStore

KINDS = ("UNION_ID", "PHONE", "OPEN_ID", "PROFILE")


class JournalTampered(Exception):
    """An entry whose signature or place in the chain is wrong: never applied, always loud."""


@dataclass(frozen=True)
class JournalEntry:
    """One erasure's destruction, as signed into the journal."""

    request: str  # the erasure request's public id
    profile_id: int  # the erased profile's internal id
    mode: str
    tombstone: str
    data_key_ids: list[int]
    hashes: dict[str, list[str]]  # suppression kind -> blind-index hashes (hex)
    requested_by: str
    requested_at: str
    approved_by: str | None
    approved_at: str | None
    seq: int = field(default=0, compare=False)

    def body(self) -> str:
        data = {
            "request": self.request,
            "profileId": self.profile_id,
            "mode": self.mode,
            "tombstone": self.tombstone,
            "dataKeyIds": sorted(self.data_key_ids),
            "hashes": {k: sorted(self.hashes.get(k, [])) for k in KINDS},
            "requestedBy": self.requested_by,
            "requestedAt": self.requested_at,
            "approvedBy": self.approved_by,
            "approvedAt": self.approved_at,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_body(cls, body: str, seq: int) -> JournalEntry:
        data: dict[str, Any] = json.loads(body)
        return cls(
            request=str(data["request"]),
            profile_id=int(data["profileId"]),
            mode=str(data["mode"]),
            tombstone=str(data["tombstone"]),
            data_key_ids=[int(i) for i in data["dataKeyIds"]],
            hashes={k: [str(h) for h in data["hashes"].get(k, [])] for k in KINDS},
            requested_by=str(data["requestedBy"]),
            requested_at=str(data["requestedAt"]),
            approved_by=data["approvedBy"],
            approved_at=data["approvedAt"],
            seq=seq,
        )


_GENESIS = b"\x00" * 32


def _mac(keyring: Keyring, previous: bytes, seq: int, body: str) -> bytes:
    message = previous + seq.to_bytes(8, "big") + body.encode("utf-8")
    return hmac.new(keyring.journal_key(), message, hashlib.sha256).digest()


async def append(store: KeyStore, keyring: Keyring, entry: JournalEntry) -> int:
    """Sign and commit `entry` after the last one; its sequence number."""
    body = entry.body()

    async def work() -> int:
        async with store.writing("erasure-journal") as conn:
            last = (
                await conn.execute(
                    sa.select(erasure_journal.c.seq, erasure_journal.c.mac)
                    .order_by(erasure_journal.c.seq.desc())
                    .limit(1)
                )
            ).first()
            seq, previous = (int(last[0]) + 1, bytes(last[1])) if last else (1, _GENESIS)
            await conn.execute(
                sa.insert(erasure_journal).values(
                    seq=seq,
                    recorded_at=utcnow(),
                    body=body,
                    mac=_mac(keyring, previous, seq, body),
                )
            )
        return seq

    return await store.run(work)


async def read_journal(store: KeyStore, keyring: Keyring) -> list[JournalEntry]:
    """Every entry, verified (one statement); JournalTampered names the first bad one."""

    async def work() -> list[Any]:
        async with store.reader.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    erasure_journal.c.seq, erasure_journal.c.body, erasure_journal.c.mac
                ).order_by(erasure_journal.c.seq)
            )
            return list(rows)

    entries, previous = [], _GENESIS
    for expected, (seq, body, mac) in enumerate(await store.run(work), start=1):
        if int(seq) != expected:
            raise JournalTampered(f"erasure journal: entry {expected} is missing (found {seq})")
        if not hmac.compare_digest(_mac(keyring, previous, int(seq), body), bytes(mac)):
            raise JournalTampered(f"erasure journal: entry {seq} fails its signature")
        try:
            entries.append(JournalEntry.from_body(body, int(seq)))
        except (ValueError, KeyError, TypeError):
            raise JournalTampered(f"erasure journal: entry {seq} is not readable") from None
        previous = bytes(mac)
    return entries
