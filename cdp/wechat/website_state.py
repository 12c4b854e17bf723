"""The website QR sign-in's `state`: signed by cdp (HMAC-SHA256 under a key drawn from the JWT
secret) over the AppID, a nonce and an expiry five minutes on; bound to the browser by a
cookie (a login CSRF finds no match); spent on its first callback, its hash kept until it
would have expired, so a replay is refused. Keyword-only; `spend_state` never commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.columns import UtcDateTime
from cdp.config import Settings
from cdp.db import utcnow
from cdp.errors import ErrorCode
from cdp.wechat.outcomes import SignInFailed

STATE_TTL_SECONDS = 300
MAX_STATE_LENGTH = 128  # WeChat passes state back up to 128 bytes


class SpentState(SQLModel, table=True):
    """A state a callback has used, by its hash, until it would have expired anyway."""

    __tablename__ = "wechat_spent_states"

    state_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), primary_key=True))
    expires_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False, index=True))


def _key(settings: Settings) -> bytes:
    secret = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, b"cdp wechat website sign-in state", hashlib.sha256).digest()


def _mac(settings: Settings, app_id: str, nonce: str, expires: int) -> str:
    signed = f"{app_id}.{nonce}.{expires}".encode()
    digest = hmac.new(_key(settings), signed, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_state(settings: Settings, *, app_id: str, now: float | None = None) -> str:
    """A fresh state for one sign-in at `app_id`: `nonce.expiry.mac`."""
    expires = int(now if now is not None else time.time()) + STATE_TTL_SECONDS
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{expires}.{_mac(settings, app_id, nonce, expires)}"


def _refused(message: str, reason: str) -> SignInFailed:
    return SignInFailed(403, ErrorCode.FORBIDDEN, message, reason=reason)


def check_state(
    settings: Settings, *, app_id: str, state: str, cookie: str | None, now: float | None = None
) -> datetime:
    """When the state expires, if cdp signed it for this app, it has not expired and this
    browser's cookie holds it; else SignInFailed (403, FORBIDDEN, reason STATE_*)."""
    parts = state.split(".") if 0 < len(state) <= MAX_STATE_LENGTH and state.isascii() else []
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise _refused("The sign-in state is not one cdp issued; start again", "STATE_FORGED")
    nonce, expires, mac = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(mac.encode(), _mac(settings, app_id, nonce, expires).encode()):
        raise _refused("The sign-in state is not one cdp issued; start again", "STATE_FORGED")
    if (now if now is not None else time.time()) >= expires:
        raise _refused("The sign-in took too long; start again", "STATE_EXPIRED")
    if not cookie or not hmac.compare_digest(cookie.encode(), state.encode()):
        raise _refused("The sign-in began in another browser; start again", "STATE_MISMATCH")
    return datetime.fromtimestamp(expires, tz=UTC)


async def spend_state(*, session: AsyncSession, state: str, expires_at: datetime) -> None:
    """Mark a checked state used; SignInFailed (reason STATE_REPLAYED) if it already was.
    States past their expiry are cleared on the way (they fail the check by then)."""
    await session.execute(sa.delete(SpentState).where(col(SpentState.expires_at) <= utcnow()))
    state_hash = hashlib.sha256(state.encode()).digest()
    if await session.get(SpentState, state_hash) is not None:
        raise _refused("This sign-in was already used; start again", "STATE_REPLAYED")
    session.add(SpentState(state_hash=state_hash, expires_at=expires_at))
    try:
        await session.flush()
    except IntegrityError:  # a concurrent callback with the same state spent it first
        raise _refused("This sign-in was already used; start again", "STATE_REPLAYED") from None
