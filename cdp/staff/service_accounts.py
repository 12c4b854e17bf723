"""Service accounts: a backend service's client id and hashed secret, exchanged for
short-lived bearer tokens (OAuth 2.0 client credentials at `POST /auth/token`).

Keyword-only functions that take the session and never commit; each records its audit entry
in the session's trail, so it lands with what it records or not at all.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.audit.actions import AuditAction, AuditOutcome
from cdp.auth import Principal, Role
from cdp.config import Settings
from cdp.db import utcnow
from cdp.errors import CdpError, ErrorCode, bad_input, conflict, not_found
from cdp.staff.models import ServiceAccount, ServiceToken
from cdp.staff.sessions import hash_secret

SERVICE_TOKEN_PREFIX = "cdpsa_"
CLIENT_ID_PREFIX = "cdpsvc_"
MAX_TOKEN_LENGTH = 100
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# The shape `create` gives client ids; anything else is refused before the database is asked.
CLIENT_ID = re.compile(re.escape(CLIENT_ID_PREFIX) + r"[A-Za-z0-9_-]{16,57}")
# Compared against when the client id is unknown, so that a miss costs what a hit does.
_NO_SECRET = hash_secret(secrets.token_urlsafe(32))


def service_subject(name: str) -> str:
    """How a service account acts in the audit log: `service:<name>`."""
    return f"service:{name}"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What `create` and `rotate` show once: the secret is kept only as its hash."""

    name: str
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A bearer token for `service:<name>`, good for `expires_in` seconds."""

    access_token: str
    expires_in: int
    name: str


def _new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


async def find_account(*, session: AsyncSession, name: str) -> ServiceAccount:
    """The account called `name`; NOT_FOUND otherwise."""
    query = sa.select(ServiceAccount).where(col(ServiceAccount.name) == name)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise not_found(f"No service account is called {name!r}")
    return found


async def list_accounts(*, session: AsyncSession) -> list[ServiceAccount]:
    """Every account, revoked ones too, by name."""
    query = sa.select(ServiceAccount).order_by(col(ServiceAccount.name))
    return list((await session.execute(query)).scalars())


async def create_account(
    *, session: AsyncSession, name: str, now: datetime | None = None
) -> ClientCredentials:
    """A new account: BAD_USER_INPUT for a name outside 1-64 of `[a-z0-9][a-z0-9-]*`,
    CONFLICT for a name in use (revoked accounts keep theirs). Audited
    `service_account.create`."""
    if not NAME.fullmatch(name):
        raise bad_input(
            "A service account name is 1-64 lower-case letters, digits and hyphens,"
            " starting with a letter or digit",
            field="name",
        )
    taken = sa.select(col(ServiceAccount.id)).where(col(ServiceAccount.name) == name)
    if (await session.execute(taken)).first() is not None:
        raise conflict(f"A service account called {name!r} exists")
    secret = _new_secret()
    row = ServiceAccount(
        name=name,
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(18),
        secret_hash=hash_secret(secret),
        created_at=now or utcnow(),
    )
    try:
        async with session.begin_nested():  # two creating at once: one gets CONFLICT
            session.add(row)
            await session.flush()
    except sa.exc.IntegrityError:
        raise conflict(f"A service account called {name!r} exists") from None
    audit.record(
        session,
        action=AuditAction.SERVICE_ACCOUNT_CREATE,
        detail={"account": name, "client_id": row.client_id},
    )
    return ClientCredentials(name=name, client_id=row.client_id, client_secret=secret)


def _live(row: ServiceAccount) -> ServiceAccount:
    if row.revoked_at is not None:
        raise conflict(f"The service account {row.name!r} is revoked")
    return row


async def _end_tokens(session: AsyncSession, account_id: int, *, before: datetime | None) -> int:
    """Delete the account's tokens (only those expired by `before`, when given)."""
    query = sa.delete(ServiceToken).where(col(ServiceToken.account_id) == account_id)
    if before is not None:
        query = query.where(col(ServiceToken.expires_at) <= before)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def rotate_secret(
    *, session: AsyncSession, name: str, now: datetime | None = None
) -> ClientCredentials:
    """A new secret for the account (the old one stops working, and so does every token
    issued with it, at once). NOT_FOUND, or CONFLICT for a revoked account. Audited
    `service_account.rotate`."""
    row = _live(await find_account(session=session, name=name))
    assert row.id is not None
    secret = _new_secret()
    row.secret_hash, row.rotated_at = hash_secret(secret), now or utcnow()
    ended = await _end_tokens(session, row.id, before=None)
    await session.flush()
    audit.record(
        session,
        action=AuditAction.SERVICE_ACCOUNT_ROTATE,
        detail={"account": name, "client_id": row.client_id, "tokens_ended": ended},
    )
    return ClientCredentials(name=name, client_id=row.client_id, client_secret=secret)


async def revoke_account(
    *, session: AsyncSession, name: str, now: datetime | None = None
) -> ServiceAccount:
    """Revoke the account for good: its secret and tokens are refused from the next request
    on. NOT_FOUND, or CONFLICT when already revoked. Audited `service_account.revoke`."""
    row = _live(await find_account(session=session, name=name))
    assert row.id is not None
    row.revoked_at = now or utcnow()
    ended = await _end_tokens(session, row.id, before=None)
    await session.flush()
    audit.record(
        session,
        action=AuditAction.SERVICE_ACCOUNT_REVOKE,
        detail={"account": name, "client_id": row.client_id, "tokens_ended": ended},
    )
    return row


def invalid_client() -> CdpError:
    """The one answer to an unknown client, a wrong secret and a revoked account alike."""
    return CdpError(ErrorCode.UNAUTHENTICATED, "Client authentication failed")


async def issue_token(
    *,
    session: AsyncSession,
    settings: Settings,
    client_id: str,
    client_secret: str,
    now: datetime | None = None,
) -> IssuedToken | None:
    """A token for the account whose client id and secret these are, or None (invalid
    client) for an unknown id, a wrong secret or a revoked account.

    Either way the outcome is recorded as `service.token` in the session's trail: the trail
    continues as `service:<name>` for an issue; a refusal is recorded (outcome
    `unauthenticated`, by the trail's actor) only when the client id exists, so that garbage
    cannot fill the log. Commit in both cases. The account's expired tokens are pruned.
    """
    now = now or utcnow()
    row: ServiceAccount | None = None
    if CLIENT_ID.fullmatch(client_id):
        # Locked: a rotation or revocation under way either waits for this issue (and then
        # ends its token) or commits first (and this sees the new secret or the revocation).
        query = (
            sa.select(ServiceAccount)
            .where(col(ServiceAccount.client_id) == client_id)
            .with_for_update()
        )
        row = (await session.execute(query)).scalar_one_or_none()
    expected = row.secret_hash if row is not None else _NO_SECRET
    matches = hmac.compare_digest(hash_secret(client_secret).encode(), expected.encode())
    if row is None:
        return None
    if not matches or row.revoked_at is not None:
        audit.record(
            session,
            action=AuditAction.SERVICE_TOKEN,
            outcome=AuditOutcome.UNAUTHENTICATED,
            detail={
                "account": row.name,
                "client_id": client_id,
                "reason": "revoked" if row.revoked_at is not None else "secret",
            },
        )
        return None
    assert row.id is not None
    pruned = await _end_tokens(session, row.id, before=now)
    token = SERVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    ttl = settings.service_token_ttl_seconds
    session.add(
        ServiceToken(
            token_hash=hash_secret(token),
            account_id=row.id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    await session.flush()
    trail = audit.trail_of(session)
    trail.continue_as(Principal(subject=service_subject(row.name), role=Role.SERVICE))
    trail.record(
        action=AuditAction.SERVICE_TOKEN,
        detail={"client_id": client_id, "expires_in": ttl, "pruned": pruned},
    )
    return IssuedToken(access_token=token, expires_in=ttl, name=row.name)


async def service_principal(
    *, session: AsyncSession, token: str, now: datetime | None = None
) -> Principal | None:
    """The service a bearer token from `POST /auth/token` acts for; None when the token is
    unknown, expired, or its account was revoked (effective at once: nothing is cached)."""
    if not token.startswith(SERVICE_TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = (
        sa.select(col(ServiceAccount.name))
        .join(ServiceToken, col(ServiceToken.account_id) == col(ServiceAccount.id))
        .where(
            col(ServiceToken.token_hash) == hash_secret(token),
            col(ServiceToken.expires_at) > (now or utcnow()),
            col(ServiceAccount.revoked_at).is_(None),
        )
    )
    name = (await session.execute(query)).scalar_one_or_none()
    return None if name is None else Principal(subject=service_subject(name), role=Role.SERVICE)
