"""Service accounts: a backend service's client id and hashed secret, exchanged for
short-lived bearer tokens (OAuth 2.0 client credentials at `POST /auth/token`).

Keyword-only functions that take the session and never commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.auth import Principal, Role
from cdp.db import utcnow
from cdp.staff.models import ServiceAccount, ServiceToken
from cdp.staff.sessions import hash_secret

SERVICE_TOKEN_PREFIX = "cdpsa_"
MAX_TOKEN_LENGTH = 100


def service_subject(name: str) -> str:
    """How a service account acts in the audit log: `service:<name>`."""
    return f"service:{name}"


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
