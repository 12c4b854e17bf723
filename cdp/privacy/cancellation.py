"""Cancelling one's account (注销账号): an erasure request of the person's own, which waits
out a cooling-off period (they may withdraw it) and then runs in the configured mode with
their request as its authority: no second officer approves it. Compliance sees it in the
erasure queue and may hold it, only with a recorded legal reason, and release it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.config import Settings
from cdp.db import lock_names, utcnow
from cdp.errors import bad_input, conflict, not_found
from cdp.profiles.models import Profile
from cdp.suppression.models import (
    CLOSED,
    ErasureMode,
    ErasureOrigin,
    ErasureRequest,
    ErasureStatus,
)
from cdp.text import clean_text

REASON_MAX = 500
SELF_REASON = "the person cancelled their account"
WITHDRAWABLE = (ErasureStatus.COOLING_OFF, ErasureStatus.HELD)


def _record(
    session: AsyncSession,
    action: str,
    request: ErasureRequest,
    *,
    purpose: str | None = None,
    **extra: str,
) -> None:
    audit.record(
        session,
        action=action,
        profile_id=request.profile_id,
        purpose=purpose,
        detail={"request": request.public_id, **extra},
    )


async def open_cancellation(session: AsyncSession, profile_id: int) -> ErasureRequest | None:
    """The person's own request that is not over yet (cooling off, held or running)."""
    return await session.scalar(
        sa.select(ErasureRequest)
        .where(
            col(ErasureRequest.profile_id) == profile_id,
            col(ErasureRequest.origin) == ErasureOrigin.SELF,
            col(ErasureRequest.status).not_in(CLOSED),
        )
        .order_by(col(ErasureRequest.id).desc())
        .limit(1)
    )


async def cancel_account(
    *, session: AsyncSession, profile: Profile, settings: Settings, confirmed: bool
) -> ErasureRequest:
    """Start the cooling-off; CONFLICT when any erasure of the person is already open."""
    assert profile.id is not None
    if not confirmed:
        raise bad_input("confirm the cancellation (confirm: true)", field="confirm")
    await lock_names(session, [("erasure-profile", str(profile.id))])
    open_request = await session.scalar(
        sa.select(ErasureRequest).where(
            col(ErasureRequest.profile_id) == profile.id,
            col(ErasureRequest.status).not_in(CLOSED),
        )
    )
    if open_request is not None:
        raise conflict("an erasure of this account is already under way", reason="OPEN")
    now = utcnow()
    runs_at = now + timedelta(days=settings.account_cooling_off_days)
    request = ErasureRequest(
        profile_id=profile.id,
        mode=ErasureMode(settings.account_cancellation_mode),
        status=ErasureStatus.COOLING_OFF,
        origin=ErasureOrigin.SELF,
        reason=SELF_REASON,
        requested_by=profile.public_id,
        requested_at=now,
        runs_at=runs_at,
        due_at=runs_at + timedelta(days=settings.erasure_due_days),
    )
    session.add(request)
    await session.flush()
    _record(session, "account.cancel", request, mode=request.mode.value, runs=runs_at.isoformat())
    return request


async def withdraw(*, session: AsyncSession, profile: Profile, request_id: str) -> ErasureRequest:
    """The person changes their mind before the erasure starts."""
    request = await _locked(session, request_id)
    if request is None or request.profile_id != profile.id or request.origin != ErasureOrigin.SELF:
        raise not_found("No such cancellation of this account")
    if request.status not in WITHDRAWABLE:
        raise conflict(f"the cancellation is {request.status.value} and can no longer be withdrawn")
    request.status, request.withdrawn_at = ErasureStatus.WITHDRAWN, utcnow()
    await session.flush()
    _record(session, "account.withdraw", request)
    return request


async def _locked(session: AsyncSession, request_id: str) -> ErasureRequest | None:
    return await session.scalar(
        sa.select(ErasureRequest)
        .where(col(ErasureRequest.public_id) == request_id.strip())
        .with_for_update()
    )


async def hold(
    *, session: AsyncSession, actor_subject: str, request_id: str, legal_reason: str
) -> ErasureRequest:
    """Compliance stops the clock on a cancellation, for a legal reason (e.g. a dispute or a
    retention duty); the reason is kept on the request and in the audit log."""
    reason = clean_text(legal_reason, field="legalReason", max_length=REASON_MAX)
    request = await _locked(session, request_id)
    if request is None:
        raise not_found("No such erasure request")
    if request.origin != ErasureOrigin.SELF or request.status is not ErasureStatus.COOLING_OFF:
        raise conflict("only a cancellation that is cooling off can be held")
    request.status = ErasureStatus.HELD
    request.hold_reason, request.held_by, request.held_at = reason, actor_subject, utcnow()
    await session.flush()
    _record(session, "erasure.hold", request, purpose=reason)
    return request


async def release(*, session: AsyncSession, request_id: str, reason: str) -> ErasureRequest:
    """The hold ends: the cancellation runs at the end of its cooling-off (at once when that
    has passed)."""
    why = clean_text(reason, field="reason", max_length=REASON_MAX)
    request = await _locked(session, request_id)
    if request is None:
        raise not_found("No such erasure request")
    if request.status is not ErasureStatus.HELD:
        raise conflict(f"the request is {request.status.value}, not held")
    request.status = ErasureStatus.COOLING_OFF
    await session.flush()
    _record(session, "erasure.release", request, purpose=why)
    return request


async def start_due(*, session: AsyncSession, now: datetime, limit: int = 50) -> Sequence[int]:
    """Cancellations whose cooling-off has ended become EXECUTING, approved by the person's
    own request; with those left EXECUTING by an interrupted run, the ids to execute."""
    due = (
        await session.scalars(
            sa.select(ErasureRequest)
            .where(
                col(ErasureRequest.origin) == ErasureOrigin.SELF,
                col(ErasureRequest.status) == ErasureStatus.COOLING_OFF,
                col(ErasureRequest.runs_at) <= now,
            )
            .order_by(col(ErasureRequest.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for request in due:
        request.status = ErasureStatus.EXECUTING
        request.approved_by, request.approved_at = request.requested_by, now
        _record(session, "erasure.approve", request, mode=request.mode.value, authority="self")
    await session.flush()
    running = await session.scalars(
        sa.select(col(ErasureRequest.id)).where(
            col(ErasureRequest.origin) == ErasureOrigin.SELF,
            col(ErasureRequest.status) == ErasureStatus.EXECUTING,
        )
    )
    return [int(i) for i in running.all() if i is not None]
