"""Replaying the erasure journal against the database: after a restore from a backup older
than an erasure, the person it erased is purged, suppressed and shredded again, and the
request is COMPLETED with a receipt whose verification scan passes.

A person is "found again" only by a profile whose public id hashes to one the journal holds
(public ids are random and never reused; internal ids and identifiers can be): a returning
person whose suppression was lifted, with a new profile, is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit.trail import AuditTrail
from cdp.db import Database, lock_names, lock_profiles, utcnow
from cdp.erasure import purge
from cdp.erasure.journal import JournalEntry, read_journal
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.profiles.models import Identity, Profile
from cdp.suppression import service as suppression
from cdp.suppression.models import ErasureMode, ErasureRequest, ErasureStatus, SuppressionKind
from cdp.unit_of_work import audited_transaction, operator_trail

log = logging.getLogger("cdp.erasure")
_CHUNK = 5000
REPLAY_OPERATOR = "system:erasure-replay"


class ReplayIncomplete(Exception):
    """A re-applied erasure whose verification scan still finds the person."""


@dataclass
class Erasure:
    """Every journal entry of one request, merged."""

    first: JournalEntry
    key_ids: set[int] = field(default_factory=set)
    hashes: dict[str, set[str]] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)

    def add(self, entry: JournalEntry) -> None:
        self.key_ids.update(entry.data_key_ids)
        for kind, found in entry.hashes.items():
            self.hashes.setdefault(kind, set()).update(found)
        self.seqs.append(entry.seq)

    def of(self, kind: SuppressionKind) -> list[bytes]:
        return [bytes.fromhex(h) for h in sorted(self.hashes.get(kind.value, ()))]


@dataclass(frozen=True)
class ReplayResult:
    entries: int
    reapplied: int
    profiles_purged: int


def _chunks(values: Iterable[Any]) -> list[list[Any]]:
    items = sorted(set(values))
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def _candidates(session: AsyncSession, erasures: Sequence[Erasure]) -> dict[int, str]:
    """Profiles that might be an erased person: by internal id or by identifier hash."""
    found: dict[int, str] = {}
    columns = sa.select(sa.cast(col(Profile.id), sa.Integer), col(Profile.public_id))
    probes: list[tuple[Any, Iterable[Any]]] = [
        (col(Profile.id), (e.first.profile_id for e in erasures)),
        (col(Profile.union_id_bidx), (h for e in erasures for h in e.of(SuppressionKind.UNION_ID))),
        (col(Profile.phone_bidx), (h for e in erasures for h in e.of(SuppressionKind.PHONE))),
    ]
    for column, values in probes:
        for chunk in _chunks(values):
            found.update(
                (int(i), str(p)) for i, p in await session.execute(columns.where(column.in_(chunk)))
            )
    opens = (h for e in erasures for h in e.of(SuppressionKind.OPEN_ID))
    for chunk in _chunks(opens):
        owners = sa.select(col(Identity.profile_id)).where(col(Identity.open_id_bidx).in_(chunk))
        rows = await session.execute(columns.where(col(Profile.id).in_(owners)))
        found.update((int(i), str(p)) for i, p in rows)
    return found


async def _completed(session: AsyncSession, requests: Iterable[str]) -> set[str]:
    done: set[str] = set()
    for chunk in _chunks(requests):
        done.update(
            (
                await session.scalars(
                    sa.select(col(ErasureRequest.public_id)).where(
                        col(ErasureRequest.public_id).in_(chunk),
                        col(ErasureRequest.status) == ErasureStatus.COMPLETED,
                    )
                )
            ).all()
        )
    return done


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def _request_row(session: AsyncSession, erasure: Erasure) -> ErasureRequest:
    entry = erasure.first
    request = await session.scalar(
        sa.select(ErasureRequest)
        .where(col(ErasureRequest.public_id) == entry.request)
        .with_for_update()
    )
    if request is None:  # the backup is older than the request itself
        requested_at = _when(entry.requested_at) or utcnow()
        request = ErasureRequest(
            public_id=entry.request,
            profile_id=entry.profile_id,
            mode=ErasureMode(entry.mode),
            status=ErasureStatus.EXECUTING,
            reason="re-applied from the erasure journal after a restore",
            requested_by=entry.requested_by,
            requested_at=requested_at,
            due_at=requested_at,
            approved_by=entry.approved_by,
            approved_at=_when(entry.approved_at),
        )
        session.add(request)
        await session.flush()
    return request


async def _reapply(
    session: AsyncSession,
    store: KeyStore,
    trail: AuditTrail,
    erasure: Erasure,
    found: dict[int, str],
) -> int | None:
    """Purge, suppress and shred one erasure again and complete its request; profiles purged,
    or None when another process re-applied it first."""
    entry = erasure.first
    await lock_names(session, [("erasure", entry.request)])
    await lock_profiles(session, found, exclusive=True)
    if found:  # what was seen before the locks, as it is now
        rows = await session.execute(
            sa.select(col(Profile.id), col(Profile.public_id)).where(col(Profile.id).in_(found))
        )
        found = {int(i or 0): str(p) for i, p in rows if found.get(int(i or 0)) == p}
    done_already = await _completed(session, [entry.request])
    if not found and done_already:
        return None
    request = await _request_row(session, erasure)
    assert request.id is not None
    hashes = [
        (kind, h) for kind in SuppressionKind for h in erasure.of(kind)
    ]  # PROFILE hashes included: the old public ids stay refused
    added = await suppression.suppress(session, hashes, request_id=request.id)
    destroyed = await store.destroy(erasure.key_ids | set(await store.ids_of(found)))
    counts: dict[str, int] = {}
    for profile_id in sorted(found):
        # The erased profile in its mode; a restored profile merged into it before the erasure
        # (it no longer existed then) goes entirely.
        mode = request.mode if profile_id == entry.profile_id else ErasureMode.DELETE
        done = await purge.purge(
            session, profile_id=profile_id, mode=mode, tombstone=entry.tombstone
        )
        for name, n in done.items():
            counts[name] = counts.get(name, 0) + int(n)
    remaining: dict[str, int] = {}
    for profile_id in sorted({entry.profile_id, *found}):
        scanned = await purge.scan(
            session,
            store=store,
            profile_id=profile_id,
            mode=request.mode if profile_id == entry.profile_id else ErasureMode.DELETE,
            public_ids=sorted(found.values()),
            union_hashes=erasure.of(SuppressionKind.UNION_ID),
            phone_hashes=erasure.of(SuppressionKind.PHONE),
            open_hashes=erasure.of(SuppressionKind.OPEN_ID),
        )
        for name, n in scanned.items():
            remaining[name] = remaining.get(name, 0) + n
    if any(remaining.values()):
        raise ReplayIncomplete(
            f"erasure {entry.request}: still found in "
            f"{sorted(k for k, v in remaining.items() if v)}"
        )
    now = utcnow()
    request.status, request.step, request.completed_at = ErasureStatus.COMPLETED, "complete", now
    request.receipt = {
        "collect": {"identifiers": {k: len(v) for k, v in sorted(erasure.hashes.items())}},
        "suppress": {"suppressions": added},
        "shred": {"data_keys": destroyed},
        "purge": counts,
        "verify": {"clean": True, "checked": sorted(remaining)},
        "complete": {
            "mode": request.mode.value,
            "requestedBy": request.requested_by,
            "requestedAt": request.requested_at.isoformat(),
            "approvedBy": request.approved_by,
            "approvedAt": request.approved_at.isoformat() if request.approved_at else None,
            "completedAt": now.isoformat(),
        },
        "replay": {"at": now.isoformat(), "journal": erasure.seqs, "profiles": len(found)},
    }
    trail.record(
        action="erasure.replay",
        profile_id=request.profile_id,
        detail={"request": entry.request, "profiles": len(found), "dataKeys": destroyed},
    )
    await session.flush()
    return len(found)


async def replay_erasure_journal(
    database: Database, keystore: KeyStore, keyring: KeyringSource
) -> ReplayResult:
    """Re-apply every journalled erasure the database does not show (after a restore).

    Self-contained: give it the database (migrated to head), the key store and the keyring.
    Idempotent; with nothing to do it reads the journal once and runs a few statements.
    Raises JournalTampered for a journal whose signatures do not hold (nothing is applied).
    """
    entries = await read_journal(keystore, keyring.keyring)
    erasures: dict[str, Erasure] = {}
    for entry in entries:
        erasures.setdefault(entry.request, Erasure(first=entry)).add(entry)
    reapplied = purged = 0
    if erasures:
        async with database.transaction() as session:
            candidates = await _candidates(session, list(erasures.values()))
            completed = await _completed(session, erasures)
        by_hash = {
            suppression.hash_of_key(keyring.keyring, SuppressionKind.PROFILE, public_id): pid
            for pid, public_id in candidates.items()
        }
        for request, erasure in erasures.items():
            profile_hashes = erasure.hashes.get(SuppressionKind.PROFILE.value, set())
            found = {
                by_hash[h]: candidates[by_hash[h]]
                for h in (bytes.fromhex(x) for x in profile_hashes)
                if h in by_hash
            }
            if not found and request in completed:
                continue
            trail = operator_trail(keyring.keyring, REPLAY_OPERATOR)
            async with audited_transaction(database, trail) as session:
                profiles = await _reapply(session, keystore, trail, erasure, found)
            if profiles is not None:
                purged, reapplied = purged + profiles, reapplied + 1
    log.info(
        "erasure journal replayed: %d re-applied",
        reapplied,
        extra={"entries": len(entries), "reapplied": reapplied, "profiles": purged},
    )
    return ReplayResult(entries=len(entries), reapplied=reapplied, profiles_purged=purged)
