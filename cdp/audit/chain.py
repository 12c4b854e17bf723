"""The hash chain: canonical records, HMAC links, verification and signed checkpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = bytes(32)
CHAINED = (
    "seq",
    "occurred_at",
    "request_id",
    "actor_subject",
    "actor_role",
    "action",
    "profile_id",
    "fields",
    "purpose",
    "outcome",
    "detail",
)


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a link signs: the chained fields as sorted, compact JSON."""
    values = {name: record.get(name) for name in CHAINED}
    occurred = values["occurred_at"]
    if isinstance(occurred, datetime):
        values["occurred_at"] = occurred.isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(key: bytes, prev_hash: bytes, record: dict[str, Any]) -> bytes:
    return link_hash_of(key, prev_hash, canonical(record))


def link_hash_of(key: bytes, prev_hash: bytes, canonical_record: bytes) -> bytes:
    """`link_hash` of a record already made canonical (the sealer needs both from one)."""
    return hmac.new(key, prev_hash + canonical_record, hashlib.sha256).digest()


@dataclass(frozen=True)
class Problem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.reason}"


class ChainVerifier:
    """Feed records in `seq` order; the first problem found is kept."""

    def __init__(self, key: bytes, *, watch: int | None = None) -> None:
        self.key = key
        self.watch = watch
        # A checkpoint of the empty log names the genesis link.
        self.watched_hash: bytes | None = GENESIS if watch == 0 else None
        self.expected_seq = 1
        self.prev_hash = GENESIS
        self.checked = 0
        self.problem: Problem | None = None

    def feed(self, record: dict[str, Any]) -> bool:
        """False once a problem is found."""
        if self.problem is not None:
            return False
        seq = int(record["seq"])
        if seq != self.expected_seq:
            reason = (
                f"records {self.expected_seq}..{seq - 1} are missing (deleted)"
                if seq > self.expected_seq
                else "out of order"
            )
            self.problem = Problem(self.expected_seq if seq > self.expected_seq else seq, reason)
            return False
        if not hmac.compare_digest(record["prev_hash"], self.prev_hash):
            self.problem = Problem(
                seq, "does not follow the record before it (inserted or reordered)"
            )
            return False
        if not hmac.compare_digest(record["hash"], link_hash(self.key, self.prev_hash, record)):
            self.problem = Problem(seq, "content does not match its hash (modified)")
            return False
        if seq == self.watch:
            self.watched_hash = record["hash"]
        self.prev_hash = record["hash"]
        self.expected_seq += 1
        self.checked += 1
        return True


def sign_checkpoint(key: bytes, seq: int, head: bytes) -> str:
    message = f"cdp-audit-checkpoint|{seq}|{head.hex()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_document(key: bytes, seq: int, head: bytes, at: datetime) -> dict[str, Any]:
    return {
        "seq": seq,
        "head": head.hex(),
        "at": at.isoformat(timespec="seconds"),
        "signature": sign_checkpoint(key, seq, head),
    }


def check_checkpoint_signature(key: bytes, document: dict[str, Any]) -> tuple[int, bytes]:
    """(seq, head) of a checkpoint whose signature holds; ValueError otherwise."""
    try:
        seq, head = int(document["seq"]), bytes.fromhex(document["head"])
        signature = str(document["signature"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("not a cdp audit checkpoint") from None
    if not hmac.compare_digest(signature, sign_checkpoint(key, seq, head)):
        raise ValueError("the checkpoint's signature does not match the audit key")
    return seq, head
