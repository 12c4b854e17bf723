"""What every write path asks before it touches a person: the suppression list (an erased
person's identifiers, kept as blind-index hashes, refused with SUPPRESSED until compliance lifts
them) and whether an approved erasure of the person is running."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.crypto import Keyring
from cdp.errors import CdpError, ErrorCode
from cdp.keys.vault import Vault
from cdp.suppression.models import ErasureRequest, ErasureStatus, Suppression, SuppressionKind

# The blind-index kind each suppression kind is hashed under.
INDEX_KIND = {
    SuppressionKind.UNION_ID: "union",
    SuppressionKind.OPEN_ID: "open_id",
    SuppressionKind.PHONE: "phone",
    SuppressionKind.PROFILE: "profile",
}


def suppressed_error() -> CdpError:
    return CdpError(
        ErrorCode.SUPPRESSED,
        "this person's data was erased on request; compliance must lift the suppression first",
    )


def hash_of(vault: Vault, kind: SuppressionKind, value: str) -> bytes:
    return vault.blind_index(INDEX_KIND[kind], value)


# Built once: every ingest asks, and building an OR of pairs cost three times what running
# it did. Both lists seek the (kind, bidx) index; the exact pairs are checked here.
_ERASING = "cdp.profiles_under_erasure"
_LISTED = sa.select(col(Suppression.kind), col(Suppression.bidx)).where(
    col(Suppression.kind).in_(sa.bindparam("kinds", expanding=True)),
    col(Suppression.bidx).in_(sa.bindparam("hashes", expanding=True)),
)


async def any_suppressed(
    session: AsyncSession, hashes: Iterable[tuple[SuppressionKind, bytes]]
) -> bool:
    wanted = set(hashes)
    if not wanted:
        return False
    rows = await session.execute(
        _LISTED, {"kinds": sorted({k for k, _ in wanted}), "hashes": [h for _, h in wanted]}
    )
    return any((SuppressionKind(kind), bytes(bidx)) in wanted for kind, bidx in rows)


async def refuse_if_suppressed(
    session: AsyncSession, hashes: Iterable[tuple[SuppressionKind, bytes]]
) -> None:
    if await any_suppressed(session, hashes):
        raise suppressed_error()


async def suppress(
    session: AsyncSession, hashes: Iterable[tuple[SuppressionKind, bytes]], *, request_id: int
) -> int:
    """Add hashes to the list (those already there stay as they are); how many were new."""
    added = 0
    for kind, bidx in hashes:
        exists = await session.scalar(
            sa.select(col(Suppression.id)).where(
                col(Suppression.kind) == kind, col(Suppression.bidx) == bidx
            )
        )
        if exists is None:
            session.add(Suppression(kind=kind, bidx=bidx, request_id=request_id))
            added += 1
    await session.flush()
    return added


async def lift(session: AsyncSession, *, kind: SuppressionKind, bidx: bytes, reason: str) -> bool:
    """Let a returning person start afresh: their identifier is no longer refused."""
    removed = await session.execute(
        sa.delete(Suppression).where(col(Suppression.kind) == kind, col(Suppression.bidx) == bidx)
    )
    lifted = bool(removed.rowcount)  # type: ignore[attr-defined]
    audit.record(
        session,
        action="suppression.lift",
        outcome="ok" if lifted else "not_found",
        purpose=reason,
        detail={"kind": kind.value},
    )
    return lifted


@dataclass(frozen=True)
class Listed:
    """An identifier on the list: its kind, since when, and the erasure that put it there."""

    kind: SuppressionKind
    since: datetime
    request_public_id: str | None  # None: the request row is gone (never, in practice)


async def look_up(session: AsyncSession, *, kind: SuppressionKind, bidx: bytes) -> Listed | None:
    """Whether this identifier (its hash) is on the list, audited by its kind only: the
    record names no value, and needs no purpose (it reads nobody's data)."""
    row = (
        await session.execute(
            sa.select(col(Suppression.created_at), col(ErasureRequest.public_id))
            .outerjoin(ErasureRequest, col(ErasureRequest.id) == col(Suppression.request_id))
            .where(col(Suppression.kind) == kind, col(Suppression.bidx) == bidx)
        )
    ).first()
    audit.record(
        session,
        action="suppression.read",
        outcome="ok" if row is not None else "not_found",
        detail={"kind": kind.value},
    )
    if row is None:
        return None
    return Listed(kind=kind, since=row[0], request_public_id=row[1])


def hash_of_key(keyring: Keyring, kind: SuppressionKind, value: str) -> bytes:
    """`hash_of` with the keyring itself (no unit of work at hand)."""
    return keyring.blind_index(INDEX_KIND[kind], value)


async def under_erasure(session: AsyncSession, profile_id: int) -> bool:
    """Whether an approved erasure of this person is running: nothing may be written.

    Read once per transaction (there are few at any time). One approved later cannot reach
    this person's rows before the transaction ends: its steps wait for the profile lock
    that writers hold, and its purge takes whatever they wrote.
    """
    info = session.sync_session.info
    if _ERASING not in info:
        info[_ERASING] = set(
            (
                await session.scalars(
                    sa.select(col(ErasureRequest.profile_id)).where(
                        col(ErasureRequest.status) == ErasureStatus.EXECUTING
                    )
                )
            ).all()
        )
    return profile_id in info[_ERASING]


async def refuse_if_under_erasure(session: AsyncSession, profile_id: int) -> None:
    if await under_erasure(session, profile_id):
        raise suppressed_error()


@event.listens_for(Session, "after_transaction_end")
def _forget_erasing(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction, not a savepoint
        session.info.pop(_ERASING, None)
