"""The suppression list: an erased person's identifiers, kept as blind-index hashes, which every
ingest path refuses with SUPPRESSED until compliance lifts them."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.erasure.models import Suppression, SuppressionKind
from cdp.errors import CdpError, ErrorCode
from cdp.keys.vault import Vault

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


async def any_suppressed(
    session: AsyncSession, hashes: Iterable[tuple[SuppressionKind, bytes]]
) -> bool:
    wanted = list(hashes)
    if not wanted:
        return False
    found = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Suppression)
        .where(
            sa.or_(
                *(
                    sa.and_(col(Suppression.kind) == k, col(Suppression.bidx) == h)
                    for k, h in wanted
                )
            )
        )
    )
    return bool(found)


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


async def lift(
    session: AsyncSession, *, actor: Principal, kind: SuppressionKind, bidx: bytes, reason: str
) -> bool:
    """Let a returning person start afresh: their identifier is no longer refused."""
    del actor
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
