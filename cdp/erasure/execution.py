"""Executing an approved erasure: a state machine of steps, each in its own transaction with
its audit record, each safe to run again, so a crash at any point converges on a rerun.

Shredding destroys the person's data keys in the key store, which is kept apart from the
database: a database backup holds their ciphertext but no key to open it. Before any key is
destroyed, the erasure is signed into the erasure journal (also in the key store); a database
restored from a backup older than the erasure has it re-applied at start-up
(cdp.erasure.replay). A key-store backup older than the erasure still holds the keys until
the KEK that wraps them is retired (`cdp keys retire`): see the README's Backups section.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit.trail import AuditTrail
from cdp.db import Database, lock_names, lock_profiles, truncate_wal, utcnow
from cdp.erasure import purge
from cdp.erasure.journal import JournalEntry, append
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.outbox import events
from cdp.profiles.models import Identity, Profile, ProfileMerge
from cdp.suppression import service as suppression
from cdp.suppression.models import ErasureRequest, ErasureStatus, SuppressionKind
from cdp.unit_of_work import audited_transaction

log = logging.getLogger(__name__)
STEPS = ("collect", "suppress", "shred", "purge", "verify", "complete")
Step = Callable[[AsyncSession, Vault, ErasureRequest], Awaitable[dict[str, Any]]]


class ErasureIncomplete(Exception):
    """The verification scan still found the person; the request stays EXECUTING."""


async def _collect(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    """Note the person's identifiers (as blind-index hashes) before anything is removed."""
    del vault
    profile = await session.get(Profile, request.profile_id)
    open_hashes = (
        await session.scalars(
            sa.select(col(Identity.open_id_bidx)).where(
                col(Identity.profile_id) == request.profile_id
            )
        )
    ).all()
    merged_ids = (
        await session.scalars(
            sa.select(col(ProfileMerge.loser_public_id)).where(
                col(ProfileMerge.survivor_id) == request.profile_id
            )
        )
    ).all()
    return {
        "tombstone": str(uuid.uuid4()),
        "publicIds": ([profile.public_id] if profile else []) + list(merged_ids),
        "union": [profile.union_id_bidx.hex()] if profile and profile.union_id_bidx else [],
        "phone": [profile.phone_bidx.hex()] if profile and profile.phone_bidx else [],
        "openIds": [h.hex() for h in open_hashes],
    }


def _hashes(vault: Vault, found: dict[str, Any]) -> list[tuple[SuppressionKind, bytes]]:
    return (
        [(SuppressionKind.UNION_ID, bytes.fromhex(h)) for h in found["union"]]
        + [(SuppressionKind.PHONE, bytes.fromhex(h)) for h in found["phone"]]
        + [(SuppressionKind.OPEN_ID, bytes.fromhex(h)) for h in found["openIds"]]
        + [
            (SuppressionKind.PROFILE, suppression.hash_of(vault, SuppressionKind.PROFILE, p))
            for p in found["publicIds"]
        ]
    )


async def _suppress(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    assert request.id is not None
    added = await suppression.suppress(
        session, _hashes(vault, request.receipt["collect"]), request_id=request.id
    )
    return {"suppressions": added}


def journal_entry(vault: Vault, request: ErasureRequest, key_ids: list[int]) -> JournalEntry:
    """What the journal keeps of this erasure: ids and hashes, nothing personal."""
    hashes: dict[SuppressionKind, list[str]] = {}
    for kind, bidx in _hashes(vault, request.receipt["collect"]):
        hashes.setdefault(kind, []).append(bidx.hex())
    return JournalEntry(
        request=request.public_id,
        profile_id=request.profile_id,
        mode=request.mode.value,
        tombstone=request.receipt["collect"]["tombstone"],
        data_key_ids=key_ids,
        hashes={kind.value: found for kind, found in hashes.items()},
        requested_by=request.requested_by,
        requested_at=request.requested_at.isoformat(),
        approved_by=request.approved_by,
        approved_at=request.approved_at.isoformat() if request.approved_at else None,
    )


async def _shred(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    """Destroy the data keys in the key store, journalled first: the person's ciphertext, in
    the database and in its backups, has no key any more."""
    del session
    key_ids = await vault.store.ids_of([request.profile_id])
    await append(vault.store, vault.keyring, journal_entry(vault, request, key_ids))
    removed = await vault.store.destroy(key_ids)
    vault.forget()
    return {"data_keys": removed}


async def _purge(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    # Whatever was linked or written since `collect` (a crash can leave a long gap) is
    # suppressed and shredded too, so nothing of the person outlives the purge.
    now = await _collect(session, vault, request)
    found = request.receipt["collect"]
    merged = {
        k: sorted(set(found[k]) | set(now[k])) for k in ("publicIds", "union", "phone", "openIds")
    }
    request.receipt = {**request.receipt, "collect": {**found, **merged}}
    assert request.id is not None
    late = await suppression.suppress(session, _hashes(vault, merged), request_id=request.id)
    shredded = await _shred(session, vault, request)
    counts = await purge.purge(
        session, profile_id=request.profile_id, mode=request.mode, tombstone=found["tombstone"]
    )
    return {**counts, "late_suppressions": late, "late_data_keys": shredded["data_keys"]}


async def _verify(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    found = request.receipt["collect"]
    remaining = await purge.scan(
        session,
        store=vault.store,
        profile_id=request.profile_id,
        mode=request.mode,
        public_ids=found["publicIds"],
        union_hashes=[bytes.fromhex(h) for h in found["union"]],
        phone_hashes=[bytes.fromhex(h) for h in found["phone"]],
        open_hashes=[bytes.fromhex(h) for h in found["openIds"]],
    )
    if any(remaining.values()):
        raise ErasureIncomplete(sorted(k for k, v in remaining.items() if v))
    return {"clean": True, "checked": sorted(remaining)}


async def _complete(session: AsyncSession, vault: Vault, request: ErasureRequest) -> dict[str, Any]:
    del vault
    # The brand's systems learn of it by the tombstone alone (the only id left of the person).
    await events.note(
        session,
        event=events.ERASURE_COMPLETED,
        key=str(request.profile_id),
        data={"profileId": request.receipt["collect"]["tombstone"], "mode": request.mode.value},
        subject=None,  # the person is gone; the tombstone is all that is said
    )
    request.status = ErasureStatus.COMPLETED
    request.completed_at = utcnow()
    # The identifiers were needed to suppress and to verify; the suppression list keeps them.
    request.receipt = {
        **request.receipt,
        "collect": {
            "identifiers": {
                k: len(v) for k, v in request.receipt["collect"].items() if isinstance(v, list)
            },
        },
    }
    assert request.approved_at is not None
    return {
        "mode": request.mode.value,
        "requestedBy": request.requested_by,
        "requestedAt": request.requested_at.isoformat(),
        "approvedBy": request.approved_by,
        "approvedAt": request.approved_at.isoformat(),
        "completedAt": request.completed_at.isoformat(),
    }


RUN: dict[str, Step] = {
    "collect": _collect,
    "suppress": _suppress,
    "shred": _shred,
    "purge": _purge,
    "verify": _verify,
    "complete": _complete,
}


async def execute_erasure(
    database: Database,
    keyring: KeyringSource,
    *,
    keystore: KeyStore,
    request_id: int,
    trail: Callable[[], AuditTrail],
) -> ErasureRequest:
    """Run the remaining steps of an approved request until it is COMPLETED."""
    while True:
        current = trail()
        async with audited_transaction(database, current) as session:
            await lock_names(session, [("erasure", str(request_id))])
            request = await session.scalar(
                sa.select(ErasureRequest)
                .where(col(ErasureRequest.id) == request_id)
                .with_for_update()
            )
            assert request is not None
            if request.status is ErasureStatus.COMPLETED:
                return request
            if request.status is not ErasureStatus.EXECUTING:
                raise ValueError(f"erasure request is {request.status.value}, not approved")
            step = STEPS[STEPS.index(request.step) + 1] if request.step in STEPS else STEPS[0]
            await lock_profiles(session, [request.profile_id], exclusive=True)
            vault = Vault(keyring, keystore)
            result = await RUN[step](session, vault, request)
            request.receipt = {**request.receipt, step: result}
            request.step = step
            current.record(
                action="erasure.execute" if step == "complete" else f"erasure.{step}",
                profile_id=request.profile_id,
                detail={
                    "request": request.public_id,
                    "step": step,
                    **({} if step == "collect" else {"result": result}),
                },
            )
            await session.flush()
        if step == "complete":
            await _leave_no_copy(database, keystore, request)
            return request


async def _leave_no_copy(database: Database, keystore: KeyStore, request: ErasureRequest) -> None:
    """SQLite keeps deleted rows' old pages in its write-ahead log until a checkpoint: empty
    the database's and the key store's now (secure_delete already zeroes them in the files).
    Best effort; the erasure is done."""
    for engine in (database.engine, keystore.engine):
        if not await truncate_wal(engine, database.settings) and engine.dialect.name == "sqlite":
            log.warning(
                "erasure: WAL still busy; the next checkpoint empties it",
                extra={"erasure_request": request.public_id},
            )
