"""Staff sessions held server-side: opened after a provider vouched for a person, found by the
hash of the cookie's secret, ended by sign-out, revocation, idleness, age or the directory.

Keyword-only functions that take the session and never commit. A session's person is named
in the audit log by `provider:directory id`, never by name or phone.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.audit.actions import AuditAction
from cdp.config import Settings
from cdp.db import as_utc, utcnow
from cdp.errors import CdpError, ErrorCode
from cdp.roles import DIRECTORY_ROLES, Role
from cdp.staff.models import SessionEnd, StaffProvider, StaffSession

TOKEN_PREFIX = "cdpss_"
# A request refreshes last_seen_at only when it is older than this: idleness is measured to
# the minute, and a busy console does not write on every request.
TOUCH_GRANULARITY = timedelta(seconds=60)
# The roles a session may act in; a directory grants no others (cdp.roles).
SESSION_ROLES = frozenset(DIRECTORY_ROLES)


def hash_secret(secret: str) -> str:
    """How a session, attempt or service secret is stored: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def csrf_token_of(token: str) -> str:
    """The per-session anti-CSRF token: derived from the cookie's secret, so a page that
    cannot read the cookie cannot compute it, and nothing more is stored."""
    digest = hashlib.sha256(b"cdp-staff-csrf\x00" + token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def staff_subject(provider: StaffProvider, directory_id: str) -> str:
    """The actor a session's records name: `wecom:zhangsan`, `oidc:<sub>`."""
    return f"{provider.value}:{directory_id}"


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    """A person a provider vouched for: their directory id and the roles the role map gives
    them; `grant` is what the provider gave to ask about them again (sealed), if anything."""

    provider: StaffProvider
    directory_id: str
    roles: tuple[Role, ...]
    grant: str | None = None

    @property
    def subject(self) -> str:
        return staff_subject(self.provider, self.directory_id)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session: the secret for the cookie (shown once), its CSRF token, its public id,
    the roles it may choose from and the role it acts in (None until chosen)."""

    token: str
    csrf_token: str
    public_id: str
    roles: tuple[Role, ...]
    role: Role | None
    expires_at: datetime


def roles_of(row: StaffSession) -> tuple[Role, ...]:
    return tuple(Role(name) for name in row.roles.split(",") if name)


def unmapped() -> CdpError:
    return CdpError(
        ErrorCode.FORBIDDEN,
        "You are not given any role in cdp by the company directory; ask its administrator",
        reason="UNMAPPED",
    )


async def open_session(
    *,
    session: AsyncSession,
    settings: Settings,
    person: DirectoryPerson,
    now: datetime | None = None,
) -> OpenedSession:
    """A session for a person the provider vouched for; FORBIDDEN (reason UNMAPPED) when the
    role map gives them no role. One role is chosen at once; several wait for `choose_role`.
    Audited `staff.sign_in` under the person's directory id."""
    roles = tuple(role for role in person.roles if role in SESSION_ROLES)
    if not roles:
        raise unmapped()
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    role = roles[0] if len(roles) == 1 else None
    row = StaffSession(
        public_id="ss_" + secrets.token_hex(8),
        token_hash=hash_secret(token),
        provider=person.provider,
        directory_id=person.directory_id,
        roles=",".join(r.value for r in roles),
        role=role.value if role else None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.staff_session_lifetime_seconds),
        checked_at=now,
        provider_grant=person.grant,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action=AuditAction.STAFF_SIGN_IN,
        detail={
            "provider": person.provider.value,
            "session": row.public_id,
            "roles": [r.value for r in roles],
            "role": row.role,
        },
    )
    return OpenedSession(
        token=token,
        csrf_token=csrf_token_of(token),
        public_id=row.public_id,
        roles=roles,
        role=role,
        expires_at=row.expires_at,
    )


async def find_session(*, session: AsyncSession, token: str) -> StaffSession | None:
    """The session whose cookie secret this is, ended or not; None for anything else."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    query = sa.select(StaffSession).where(col(StaffSession.token_hash) == hash_secret(token))
    return (await session.execute(query)).scalar_one_or_none()


def why_ended(row: StaffSession, settings: Settings, now: datetime) -> SessionEnd | None:
    """Why this session may no longer act, or None while it may."""
    if row.ended_reason is not None:
        return row.ended_reason
    if now >= as_utc(row.expires_at):
        return SessionEnd.EXPIRED
    if now - as_utc(row.last_seen_at) >= timedelta(seconds=settings.staff_idle_timeout_seconds):
        return SessionEnd.IDLE
    return None


async def touch(*, session: AsyncSession, row: StaffSession, now: datetime) -> None:
    """The session was used: it stays alive for another idle timeout."""
    if now - as_utc(row.last_seen_at) >= TOUCH_GRANULARITY:
        row.last_seen_at = now
        await session.flush()


async def end_session(
    *,
    session: AsyncSession,
    row: StaffSession,
    reason: SessionEnd,
    by: str | None = None,
    now: datetime | None = None,
) -> None:
    """End one session (once: an ended session keeps its first reason). Audited
    `staff.sign_out` for a sign-out, `staff.revoke` for a revocation, else `staff.session_end`."""
    if row.ended_reason is not None:
        return
    row.ended_at, row.ended_reason, row.ended_by = now or utcnow(), reason, by
    await session.flush()
    action = {
        SessionEnd.SIGNED_OUT: AuditAction.STAFF_SIGN_OUT,
        SessionEnd.REVOKED: AuditAction.STAFF_REVOKE,
    }.get(reason, AuditAction.STAFF_SESSION_END)
    audit.record(
        session,
        action=action,
        detail={
            "session": row.public_id,
            "person": staff_subject(row.provider, row.directory_id),
            "reason": reason.value,
        },
    )


async def choose_role(*, session: AsyncSession, row: StaffSession, role: Role) -> None:
    """Fix the role a session acts in: once, and only one the directory gave. CONFLICT when
    a role is already chosen (sign in again to act in another), FORBIDDEN for one not held."""
    if row.role is not None:
        raise CdpError(
            ErrorCode.CONFLICT,
            "This session already acts in a role; sign in again to act in another",
            reason="ROLE_CHOSEN",
        )
    if role not in roles_of(row):
        raise CdpError(ErrorCode.FORBIDDEN, "The directory does not give you that role")
    row.role = role.value
    await session.flush()
    audit.record(
        session,
        action=AuditAction.STAFF_ROLE,
        detail={"session": row.public_id, "role": role.value},
    )


async def sessions_of_person(
    *, session: AsyncSession, provider: StaffProvider, directory_id: str
) -> list[StaffSession]:
    query = sa.select(StaffSession).where(
        col(StaffSession.provider) == provider,
        col(StaffSession.directory_id) == directory_id,
        col(StaffSession.ended_reason).is_(None),
    )
    return list((await session.execute(query)).scalars())


async def revoke(
    *,
    session: AsyncSession,
    by: str,
    public_id: str | None = None,
    person: tuple[StaffProvider, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke one session (`public_id`) or every live one of a person; how many ended.
    NOT_FOUND when the session id names none; zero for a person without live sessions."""
    now = now or utcnow()
    if public_id is not None:
        query = sa.select(StaffSession).where(col(StaffSession.public_id) == public_id)
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise CdpError(ErrorCode.NOT_FOUND, "No staff session has that id")
        rows = [row] if row.ended_reason is None else []
    elif person is not None:
        rows = await sessions_of_person(session=session, provider=person[0], directory_id=person[1])
    else:
        raise ValueError("revoke needs a session id or a person")
    for row in rows:
        await end_session(session=session, row=row, reason=SessionEnd.REVOKED, by=by, now=now)
    return len(rows)


async def live_sessions(
    *,
    session: AsyncSession,
    settings: Settings,
    now: datetime | None = None,
    limit: int | None = None,
    before: int | None = None,
) -> list[StaffSession]:
    """Sessions that may still act (not ended, not idle, not past their lifetime), newest
    first; at most `limit` of them, below the id `before` when given (a page's keyset)."""
    now = now or utcnow()
    idle_since = now - timedelta(seconds=settings.staff_idle_timeout_seconds)
    query = (
        sa.select(StaffSession)
        .where(
            col(StaffSession.ended_reason).is_(None),
            col(StaffSession.expires_at) > now,
            col(StaffSession.last_seen_at) > idle_since,
        )
        .order_by(col(StaffSession.id).desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(col(StaffSession.id) < before)
    return list((await session.execute(query)).scalars())
