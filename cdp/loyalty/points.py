"""The points ledger: earn, spend, adjust, expire. Idempotent writes; never below zero.

Every write takes the profile's points lock first (PostgreSQL advisory lock; SQLite writers
are serialised anyway), so concurrent spends see each other and the balance cannot go negative.
The balance is what remains of unexpired lots; expired lots are written to the ledger as
EXPIRE entries whenever the profile's points are touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.batches import newest_per_owner
from cdp.channels import Channel
from cdp.db import lock_names, utcnow
from cdp.distribution import moves_by_copy
from cdp.errors import bad_input, conflict
from cdp.idempotency import earlier_write
from cdp.loyalty.models import EntryKind, PointsEntry, PointsLot
from cdp.profiles import directory
from cdp.profiles.merge import Merge, copy_rows, reassign_rows
from cdp.profiles.models import Profile
from cdp.reevaluation import note as reevaluate
from cdp.text import clean_key, clean_optional_text

MAX_POINTS_PER_ENTRY = 10_000_000
REASON_MAX = 200


def check_positive(points: int) -> int:
    """Points as a caller gives them to earn or spend: 1 to the per-entry maximum."""
    if not 1 <= points <= MAX_POINTS_PER_ENTRY:
        raise bad_input(f"points must be 1-{MAX_POINTS_PER_ENTRY}", field="points")
    return points


def _check_signed(kind: EntryKind, points: int) -> None:
    check_positive(abs(points))
    if (kind is EntryKind.EARN and points < 0) or (kind is EntryKind.SPEND and points > 0):
        raise bad_input(f"a {kind.value} entry cannot move points that way", field="points")
    if kind is EntryKind.EXPIRE:
        raise bad_input("points expire by themselves", field="kind")


async def _lock(session: AsyncSession, profile_id: int) -> None:
    await lock_names(session, [("points", str(profile_id))])


async def balances_of(
    session: AsyncSession, profile_ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, bool]]:
    """Per profile: (points in unexpired lots, whether any lot is due to be written off)."""
    rows = await session.execute(_BALANCES, {"profile_ids": list(profile_ids), "now": now})
    found = {int(pid): (int(total), bool(due)) for pid, total, due in rows}
    return {pid: found.get(pid, (0, False)) for pid in profile_ids}


# Built once: every points entry asks, and building it cost more than running it.
_BALANCES = (
    sa.select(
        col(PointsLot.profile_id),
        sa.func.coalesce(
            sa.func.sum(col(PointsLot.remaining)).filter(
                col(PointsLot.expires_at) > sa.bindparam("now")
            ),
            0,
        ),
        sa.func.count().filter(col(PointsLot.expires_at) <= sa.bindparam("now")),
    )
    .where(
        col(PointsLot.profile_id).in_(sa.bindparam("profile_ids", expanding=True)),
        col(PointsLot.remaining) > 0,
    )
    .group_by(col(PointsLot.profile_id))
)


async def balance_of(session: AsyncSession, profile_id: int, now: datetime) -> tuple[int, bool]:
    return (await balances_of(session, [profile_id], now))[profile_id]


async def _lots(
    session: AsyncSession, profile_id: int, expiry: sa.ColumnElement[bool]
) -> Sequence[PointsLot]:
    """The profile's lots with points left whose expiry matches, soonest-expiring first."""
    query = (
        sa.select(PointsLot)
        .where(col(PointsLot.profile_id) == profile_id, col(PointsLot.remaining) > 0, expiry)
        .order_by(col(PointsLot.expires_at), col(PointsLot.id))
    )
    return (await session.scalars(query)).all()


async def expire_due(*, session: AsyncSession, profile_id: int, now: datetime) -> int:
    """Write EXPIRE entries for lots past their date (the caller holds the points lock)."""
    due = await _lots(session, profile_id, col(PointsLot.expires_at) <= now)
    if not due:
        return 0
    balance, _ = await balance_of(session, profile_id, now)
    expired = sum(lot.remaining for lot in due)
    running = balance + expired  # what the ledger summed to before these write-offs
    for lot in due:
        running -= lot.remaining
        session.add(
            PointsEntry(
                profile_id=profile_id,
                kind=EntryKind.EXPIRE,
                points=-lot.remaining,
                balance_after=running,
                reason="points expired",
                idempotency_key=f"cdp:expire:lot:{lot.id}",
                created_at=now,
            )
        )
        lot.remaining = 0
    await session.flush()
    detail = {"points": expired, "lots": len(due)}
    audit.record(session, action="points.expire", profile_id=profile_id, detail=detail)
    return expired


async def current_balances(
    *, session: AsyncSession, profile_ids: Sequence[int], now: datetime
) -> dict[int, int]:
    """Balances, after writing off whatever expired (locking only profiles with lots due)."""
    balances = await balances_of(session, profile_ids, now)
    for profile_id, (_, due) in balances.items():
        if due:
            await _lock(session, profile_id)
            await expire_due(session=session, profile_id=profile_id, now=now)
    return {pid: balance for pid, (balance, _) in balances.items()}


# The key's holder is found in the directory first: then one shard (the person's) on Citus.
_ENTRY_BY_KEY = sa.select(PointsEntry).where(
    col(PointsEntry.profile_id) == sa.bindparam("owner"),
    col(PointsEntry.idempotency_key) == sa.bindparam("key"),
)


async def _consume(session: AsyncSession, profile_id: int, points: int, now: datetime) -> None:
    """Take `points` from the soonest-expiring lots (the caller checked the balance)."""
    for lot in await _lots(session, profile_id, col(PointsLot.expires_at) > now):
        taken = min(points, lot.remaining)
        lot.remaining -= taken
        points -= taken
        if points == 0:
            return
    raise AssertionError("balance checked before consuming")


async def record_entry(
    *,
    session: AsyncSession,
    profile: Profile,
    kind: EntryKind,
    points: int,
    idempotency_key: str,
    reason: str | None = None,
    channel: Channel | None = None,
    lifetime: timedelta,
    now: datetime | None = None,
) -> PointsEntry:
    """Add `points` (signed) to the profile's balance; the same key again returns the same
    entry. CONFLICT when the balance would go below zero."""
    assert profile.id is not None
    now = now or utcnow()
    key = clean_key(idempotency_key)
    reason = clean_optional_text(reason, field="reason", max_length=REASON_MAX)
    _check_signed(kind, points)
    await _lock(session, profile.id)
    # The key's own lock too: where the key's uniqueness is per person (Citus), the lookup
    # below is what keeps one key to one profile.
    await lock_names(session, [("points-key", key)])
    asked = (profile.id, kind, points)
    owner = await directory.owner_of(session, directory.idempotency_key("points_ledger", key))
    replay = None
    if owner is not None:  # else no earlier write holds the key
        replay = await earlier_write(
            session,
            _ENTRY_BY_KEY,
            {"owner": owner, "key": key},
            same=lambda held: (held.profile_id, held.kind, held.points) == asked,
            what="a different points request",
            action=f"points.{kind.value.lower()}",
            profile_id=profile.id,
            detail=lambda held: {"entry": held.id},
        )
    if replay is not None:
        return replay
    balance, any_due = await balance_of(session, profile.id, now)
    if any_due:  # expired lots do not count already; the ledger is told so first
        await expire_due(session=session, profile_id=profile.id, now=now)
    if balance + points < 0:
        raise conflict(f"not enough points: balance {balance}, needs {-points}")
    expires_at = now + lifetime if points > 0 else None
    entry = PointsEntry(
        profile_id=profile.id,
        kind=kind,
        points=points,
        balance_after=balance + points,
        reason=reason,
        channel=channel,
        idempotency_key=key,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError:
        raise conflict("idempotencyKey was already used for another profile") from None
    assert entry.id is not None
    if expires_at is not None:
        session.add(
            PointsLot(
                profile_id=profile.id, entry_id=entry.id, remaining=points, expires_at=expires_at
            )
        )
    else:
        await _consume(session, profile.id, -points, now)
    await session.flush()
    reevaluate(session, [profile.id])
    audit.record(
        session,
        action=f"points.{kind.value.lower()}",
        profile_id=profile.id,
        detail={"points": points, "entry": entry.id},
    )
    return entry


async def history(
    *, session: AsyncSession, profile_ids: Sequence[int], limit: int, before: int | None
) -> dict[int, list[PointsEntry]]:
    """Newest entries first, up to `limit` per profile, older than entry id `before`."""
    return await newest_per_owner(
        session,
        PointsEntry,
        owner=col(PointsEntry.profile_id),
        owners=profile_ids,
        newest_first=(col(PointsEntry.id).desc(),),
        limit=limit,
        where=() if before is None else (col(PointsEntry.id) < before,),
    )


async def move_points(merge: Merge) -> int:
    """Ledger entries and lots move as they are; the balance is their sum, so it adds up."""
    if await moves_by_copy(merge.session, "points_ledger"):
        # On Citus a lot's key to its entry includes the person: the entries' copies first.
        moved = await copy_rows(merge, PointsEntry)
        await reassign_rows(merge, PointsLot)
        await merge.session.execute(
            sa.delete(PointsEntry).where(col(PointsEntry.profile_id) == merge.loser.id)
        )
        return moved
    await reassign_rows(merge, PointsLot)
    return await reassign_rows(merge, PointsEntry)
