"""`cdp retention run` and the privacy worker's daily pass: each policy applied in batches (a
transaction each, so a large expiry never holds one long transaction), the run audited with
its counts. A dry run counts what would expire and changes nothing (it is audited too).

Events, contacts and audit records go by whole months on PostgreSQL (cdp.retention.months)
and row by row on SQLite; orders are de-identified (no person, no address, a tombstone of
their own); inactive members are anonymized through the erasure machinery (suppression, key
shredding, the erasure journal), like any erasure.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import expiry
from cdp.audit import trail as audit
from cdp.audit.trail import AuditTrail
from cdp.config import Settings
from cdp.consent.models import ConsentChange, Contact
from cdp.db import Database, lock_names, utcnow
from cdp.erasure.execution import ErasureIncomplete, execute_erasure
from cdp.erasure.export_links import DataExportLink
from cdp.events.keys import forget_keys
from cdp.events.models import Event
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.orders.models import Order
from cdp.partitions import ensure_ahead, is_partitioned
from cdp.profiles.models import Identity, Profile
from cdp.retention.months import drop_months, spec_of
from cdp.retention.policies import Kind, Policy, expired_ids, policies
from cdp.suppression.models import (
    ErasureMode,
    ErasureOrigin,
    ErasureRequest,
    ErasureStatus,
)
from cdp.unit_of_work import audited_transaction, operator_trail

BATCH = 2000
TIMED = {Kind.EVENTS: "occurred_at", Kind.CONTACTS: "sent_at"}
RETENTION_SUBJECT = "cdp-retention"
INACTIVE_REASON = "retention: inactive member"
Progress = Callable[[Kind, int], None]


@dataclass
class Outcome:
    policy: Policy
    due: int  # what had expired when the run began
    done: int = 0  # what the run removed, de-identified or anonymized (0 in a dry run)


def _inactive(cutoff: datetime) -> sa.Select[Any]:
    """Profiles with no sign of the person since `cutoff` and no erasure of theirs on record."""

    def since(column: Any, owner: Any) -> sa.Exists:
        return sa.exists().where(owner == col(Profile.id), column >= cutoff)

    return sa.select(col(Profile.id)).where(
        col(Profile.updated_at) < cutoff,
        col(Profile.created_at) < cutoff,
        ~since(col(Identity.last_seen_at), col(Identity.profile_id)),
        ~since(col(Order.paid_at), col(Order.profile_id)),
        ~since(col(Event.occurred_at), col(Event.profile_id)),
        ~since(col(ConsentChange.changed_at), col(ConsentChange.profile_id)),
        ~sa.exists().where(
            col(ErasureRequest.profile_id) == col(Profile.id),
            col(ErasureRequest.status) != ErasureStatus.WITHDRAWN,
        ),
    )


def _selection(policy: Policy) -> sa.Select[Any]:
    if policy.kind is Kind.INACTIVE_MEMBERS:
        return _inactive(policy.cutoff)
    if policy.kind is Kind.EXPORT_LINKS:
        return sa.select(col(DataExportLink.id)).where(
            col(DataExportLink.expires_at) < policy.cutoff
        )
    return expired_ids(policy)


async def _count(session: AsyncSession, policy: Policy) -> int:
    if policy.kind is Kind.AUDIT:
        return len(await expiry.expirable(session, policy.cutoff, limit=10**9))
    query = sa.select(sa.func.count()).select_from(_selection(policy).subquery())
    return int(await session.scalar(query) or 0)


async def _apply_batch(session: AsyncSession, policy: Policy, keyring: KeyringSource) -> int:
    """Expire up to BATCH rows of a row kind; how many."""
    if policy.kind is Kind.AUDIT:
        return await expiry.expire_before(session, keyring.keyring, policy.cutoff, limit=BATCH)
    ids = [int(i) for i in (await session.scalars(_selection(policy).limit(BATCH))).all()]
    if not ids:
        return 0
    if policy.kind is Kind.ORDERS:
        for order_id in ids:  # a tombstone per order: expired orders cannot be linked up
            await session.execute(
                sa.update(Order)
                .where(col(Order.id) == order_id)
                .values(
                    profile_id=None, shipping_address_ct=None, buyer_tombstone=str(uuid.uuid4())
                )
            )
        return len(ids)
    model = {Kind.EVENTS: Event, Kind.CONTACTS: Contact, Kind.EXPORT_LINKS: DataExportLink}[
        policy.kind
    ]
    table = model.__table__  # type: ignore[attr-defined]
    chosen = table.c.id.in_(ids)
    if policy.kind in TIMED:  # on PostgreSQL, the months it can be in: no scan of the others
        chosen = sa.and_(chosen, table.c[TIMED[policy.kind]] < policy.cutoff)
    if policy.kind is Kind.EVENTS and is_partitioned(session):
        await forget_keys(
            session, list(await session.scalars(sa.select(table.c.event_id).where(chosen)))
        )
    await session.execute(sa.delete(table).where(chosen))
    return len(ids)


async def _anonymize(
    database: Database,
    keyring: KeyringSource,
    keystore: KeyStore,
    profile_id: int,
    trail: Callable[[], AuditTrail],
) -> bool:
    async with audited_transaction(database, trail()) as session:
        # Another process's run may have reached this person first: one request each.
        await lock_names(session, [("erasure-profile", str(profile_id))])
        if await session.scalar(
            sa.select(col(ErasureRequest.id)).where(
                col(ErasureRequest.profile_id) == profile_id,
                col(ErasureRequest.status) != ErasureStatus.WITHDRAWN,
            )
        ):
            return False
        now = utcnow()
        request = ErasureRequest(
            profile_id=profile_id,
            mode=ErasureMode.ANONYMIZE,
            status=ErasureStatus.EXECUTING,
            origin=ErasureOrigin.RETENTION,
            reason=INACTIVE_REASON,
            requested_by=RETENTION_SUBJECT,
            requested_at=now,
            due_at=now,
            approved_by=RETENTION_SUBJECT,
            approved_at=now,
        )
        session.add(request)
        await session.flush()
        audit.record(
            session,
            action="erasure.request",
            profile_id=profile_id,
            detail={"request": request.public_id, "mode": "ANONYMIZE", "authority": "retention"},
        )
        request_id = request.id or 0
    try:
        await execute_erasure(
            database, keyring, keystore=keystore, request_id=request_id, trail=trail
        )
    except ErasureIncomplete:
        return False
    return True


async def run_retention(
    database: Database,
    keyring: KeyringSource,
    settings: Settings,
    *,
    keystore: KeyStore,
    dry_run: bool,
    now: datetime | None = None,
    started: Callable[[list[Outcome]], None] | None = None,
    progress: Progress | None = None,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """Apply every policy in force at `now` (default: now); the counts, per policy.
    `progress` and `heartbeat` are called after every transaction that changed something."""
    now = now or utcnow()

    async def advanced(kind: Kind, done: int) -> None:
        if progress is not None:
            progress(kind, done)
        if heartbeat is not None:
            await heartbeat()

    whole_months = database.dialect == "postgresql"

    def trail() -> AuditTrail:
        return operator_trail(keyring.keyring, RETENTION_SUBJECT)

    if whole_months and not dry_run:
        async with database.transaction() as session:  # the months ahead, before any expiry
            await ensure_ahead(session, now)
    in_force = policies(settings, now, whole_months=whole_months)
    async with database.transaction() as session:
        outcomes = [Outcome(p, await _count(session, p)) for p in in_force]
    if started is not None:
        started(outcomes)
    if not dry_run:
        for outcome in outcomes:
            if whole_months and spec_of(outcome.policy.kind) is not None:
                outcome.done += await drop_months(
                    database, keyring, trail, outcome.policy, partial(advanced, outcome.policy.kind)
                )
            if outcome.policy.kind is Kind.INACTIVE_MEMBERS:
                async with database.transaction() as session:
                    ids = [
                        int(i) for i in (await session.scalars(_selection(outcome.policy))).all()
                    ]
                for profile_id in ids:
                    outcome.done += await _anonymize(database, keyring, keystore, profile_id, trail)
                    await advanced(outcome.policy.kind, 1)
                continue
            while outcome.done < outcome.due:
                async with audited_transaction(database, trail()) as session:
                    done = await _apply_batch(session, outcome.policy, keyring)
                if not done:
                    break
                outcome.done += done
                await advanced(outcome.policy.kind, done)
    async with audited_transaction(database, trail()) as session:
        audit.record(
            session,
            action="retention.run",
            detail={
                "dryRun": dry_run,
                "policies": {
                    o.policy.kind.value: {
                        "action": o.policy.action.value,
                        "before": o.policy.cutoff.isoformat(),
                        "due": o.due,
                        "done": o.done,
                    }
                    for o in outcomes
                },
            },
        )
    return outcomes
