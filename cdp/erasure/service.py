"""Erasure requests: requested by one compliance officer, approved by another, then executed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.auth import Principal
from cdp.db import lock_names, utcnow
from cdp.errors import conflict, not_found
from cdp.profiles.merge import Merge
from cdp.profiles.models import Profile
from cdp.suppression.models import CLOSED, ErasureMode, ErasureRequest, ErasureStatus
from cdp.text import clean_text

REASON_MAX = 500


async def request_erasure(
    *,
    session: AsyncSession,
    actor: Principal,
    profile: Profile,
    mode: ErasureMode,
    reason: str,
    due_in: timedelta,
) -> ErasureRequest:
    """Open a request with its legal due date; one open request per person."""
    assert profile.id is not None
    reason = clean_text(reason, field="reason", max_length=REASON_MAX)
    await lock_names(session, [("erasure-profile", str(profile.id))])
    open_request = await session.scalar(
        sa.select(ErasureRequest).where(
            col(ErasureRequest.profile_id) == profile.id,
            col(ErasureRequest.status).not_in(CLOSED),
        )
    )
    if open_request is not None:
        raise conflict(f"erasure request {open_request.public_id} is already open for this person")
    now = utcnow()
    request = ErasureRequest(
        profile_id=profile.id,
        mode=mode,
        status=ErasureStatus.PENDING,
        reason=reason,
        requested_by=actor.subject,
        requested_at=now,
        due_at=now + due_in,
    )
    session.add(request)
    await session.flush()
    _record(session, "erasure.request", request, mode=mode.value)
    return request


async def approve_erasure(
    *, session: AsyncSession, actor: Principal, request_id: str
) -> ErasureRequest:
    """The second officer's approval; execution follows (see cdp.erasure.execution)."""
    request = await session.scalar(
        sa.select(ErasureRequest)
        .where(col(ErasureRequest.public_id) == request_id.strip())
        .with_for_update()
    )
    if request is None:
        raise not_found("No such erasure request")
    if request.requested_by == actor.subject:
        raise conflict("an erasure must be approved by a different compliance officer")
    if request.status is ErasureStatus.EXECUTING:
        # Approved before and interrupted: approving again resumes it.
        _record(session, "erasure.resume", request, step=request.step)
        return request
    if request.status is not ErasureStatus.PENDING:
        raise conflict(f"the request is {request.status.value}, not waiting for approval")
    request.status = ErasureStatus.EXECUTING
    request.approved_by, request.approved_at = actor.subject, utcnow()
    await session.flush()
    _record(session, "erasure.approve", request, mode=request.mode.value)
    return request


def _record(session: AsyncSession, action: str, request: ErasureRequest, **detail: str) -> None:
    """Audit a step of `request`, against its person."""
    audit.record(
        session,
        action=action,
        profile_id=request.profile_id,
        detail={"request": request.public_id, **detail},
    )


async def list_requests(
    *,
    session: AsyncSession,
    status: ErasureStatus | None,
    limit: int,
    before: int | None,
    public_id: str | None = None,
    overdue_at: datetime | None = None,
) -> Sequence[ErasureRequest]:
    """Newest first; `public_id` one request; `overdue_at` those not completed by their due
    date as of that moment."""
    query = sa.select(ErasureRequest).order_by(col(ErasureRequest.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(ErasureRequest.status) == status)
    if public_id is not None:
        query = query.where(col(ErasureRequest.public_id) == public_id)
    if overdue_at is not None:
        query = query.where(
            col(ErasureRequest.status).not_in(CLOSED),
            col(ErasureRequest.due_at) < overdue_at,
        )
    if before is not None:
        query = query.where(col(ErasureRequest.id) < before)
    return (await session.scalars(query)).all()


async def follow_the_person(merge: Merge) -> int:
    """An open request for the loser is a request for the person: it now names the survivor."""
    moved = await merge.session.execute(
        sa.update(ErasureRequest)
        .where(
            col(ErasureRequest.profile_id) == merge.loser.id,
            col(ErasureRequest.status).not_in(CLOSED),
        )
        .values(profile_id=merge.survivor.id)
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
