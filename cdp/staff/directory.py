"""Asking the directory again about a live session: when it is due, which worker asks (one,
by a claim on the row, so that a provider's rotating refresh token is spent once), and what
the answer does to the session.

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.config import Settings
from cdp.db import as_utc
from cdp.roles import Role
from cdp.staff.models import SessionEnd, StaffSession
from cdp.staff.sessions import SESSION_ROLES, end_session


class DirectoryCheck(Protocol):
    """A provider's answer, when a session is due (`recheck_due`), to whether its person is
    still in the directory and which roles the role map gives them now."""

    async def recheck(self, row: StaffSession) -> tuple[tuple[Role, ...] | None, str | None]:
        """(roles now, None when the person is gone; a new sealed grant, None to keep)."""
        ...


def recheck_due(row: StaffSession, settings: Settings, now: datetime) -> bool:
    """Whether the directory must be asked again before this session acts."""
    age = now - as_utc(row.checked_at)
    return age >= timedelta(seconds=settings.staff_directory_recheck_seconds)


async def claim_recheck(*, session: AsyncSession, row: StaffSession, now: datetime) -> bool:
    """Take the recheck of a due session for this request: True for the one request (on any
    worker or instance) whose conditional update moved `checked_at` from what it read; the
    others go on under the previous answer until the claimant records the new one."""
    result = await session.execute(
        sa.update(StaffSession)
        .where(col(StaffSession.id) == row.id, col(StaffSession.checked_at) == row.checked_at)
        .values(checked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def release_recheck(
    *, session: AsyncSession, row: StaffSession, claimed_at: datetime
) -> None:
    """Give back a claim the directory could not answer: the next request asks again."""
    await session.execute(
        sa.update(StaffSession)
        .where(col(StaffSession.id) == row.id, col(StaffSession.checked_at) == claimed_at)
        .values(checked_at=row.checked_at)
        .execution_options(synchronize_session=False)
    )


async def directory_answered(
    *,
    session: AsyncSession,
    row: StaffSession,
    roles: Sequence[Role] | None,
    now: datetime,
    grant: str | None = None,
) -> SessionEnd | None:
    """Record the directory's fresh answer: `roles` it gives now (None: the person is gone).
    The session ends (DIRECTORY) when the person is gone or lost the role in use."""
    held = tuple(role for role in roles or () if role in SESSION_ROLES)
    if roles is None or not held or (row.role is not None and Role(row.role) not in held):
        await end_session(session=session, row=row, reason=SessionEnd.DIRECTORY, now=now)
        return SessionEnd.DIRECTORY
    row.roles, row.checked_at = ",".join(r.value for r in held), now
    if grant is not None:
        row.provider_grant = grant
    await session.flush()
    return None
