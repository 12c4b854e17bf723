"""Sign-ins in flight: the state (and for OIDC the nonce and PKCE verifier) between the
redirect to a provider and its callback. One use, ten minutes, found by the state's hash.

The state also goes into an HttpOnly cookie scoped to the callback, so a callback that
arrives in another browser (a login CSRF) finds no match. Keyword-only, never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.db import as_utc, utcnow
from cdp.staff.models import SignInAttempt, StaffProvider
from cdp.staff.sessions import hash_secret

ATTEMPT_TTL = timedelta(minutes=10)
MAX_STATE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the callback needs back: the provider, and the OIDC nonce and PKCE verifier."""

    provider: StaffProvider
    nonce: str | None
    code_verifier: str | None


async def begin_attempt(
    *,
    session: AsyncSession,
    provider: StaffProvider,
    nonce: str | None = None,
    code_verifier: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store an attempt and return its state (to send to the provider and set as a cookie).
    Attempts past their ten minutes are cleared on the way."""
    now = now or utcnow()
    await session.execute(sa.delete(SignInAttempt).where(col(SignInAttempt.expires_at) <= now))
    state = secrets.token_urlsafe(24)
    session.add(
        SignInAttempt(
            state_hash=hash_secret(state),
            provider=provider,
            nonce=nonce,
            code_verifier=code_verifier,
            created_at=now,
            expires_at=now + ATTEMPT_TTL,
        )
    )
    await session.flush()
    return state


async def take_attempt(
    *,
    session: AsyncSession,
    provider: StaffProvider,
    state: str,
    cookie: str | None,
    now: datetime | None = None,
) -> Attempt | None:
    """The attempt this callback completes, used up; None when the state is unknown, spent,
    expired, of another provider, or not the one this browser's cookie holds."""
    if not state or len(state) > MAX_STATE_LENGTH or not cookie:
        return None
    if not secrets.compare_digest(state.encode(), cookie.encode()):
        return None
    now = now or utcnow()
    query = sa.select(SignInAttempt).where(col(SignInAttempt.state_hash) == hash_secret(state))
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        return None
    # Used up whatever follows: a state works once.
    await session.execute(sa.delete(SignInAttempt).where(col(SignInAttempt.id) == row.id))
    if row.provider is not provider or now >= as_utc(row.expires_at):
        return None
    return Attempt(provider=row.provider, nonce=row.nonce, code_verifier=row.code_verifier)
