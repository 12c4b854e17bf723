"""SMS sign-in codes: six digits, stored as an HMAC under a key drawn from the keyring, one
use, five minutes, a few wrong tries; sent to a phone at most once a minute and five times an
hour (counted in the database, so every worker shares the limit). Keyword-only functions that
take the session and never commit.

Nothing here depends on whether a profile holds the phone: a known and an unknown phone are
answered alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.crypto import Keyring
from cdp.db import lock_names
from cdp.errors import Throttled
from cdp.sms.models import SmsCode

CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(seconds=60)
PER_PHONE_PER_HOUR = 5
MAX_ATTEMPTS = 5  # wrong codes before the code is spent
KEPT_AFTER_EXPIRY = timedelta(hours=1)  # the per-hour limit counts them
_LABEL = b"cdp/sms/sign-in-codes/v1"
_TABLE: sa.Table = SmsCode.__table__  # type: ignore[attr-defined]


def code_mac(keyring: Keyring, phone_bidx: bytes, code: str) -> bytes:
    """The stored form of a code: an HMAC bound to the phone, which without the keyring's
    key does not give the six digits back."""
    return hmac.new(
        keyring.derived_key(_LABEL), phone_bidx + code.encode(), hashlib.sha256
    ).digest()


async def reserve_code(
    *, session: AsyncSession, keyring: Keyring, phone_bidx: bytes, now: datetime
) -> tuple[int, str]:
    """A fresh code for the phone (its earlier unspent codes spent) and its row id, to
    withdraw should the send fail; Throttled when the phone had one within RESEND_AFTER or
    PER_PHONE_PER_HOUR within the hour."""
    await lock_names(session, [("sms-code", phone_bidx.hex())])
    await session.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at < now - KEPT_AFTER_EXPIRY))
    recent = list(
        await session.scalars(
            sa.select(col(SmsCode.created_at))
            .where(col(SmsCode.phone_bidx) == phone_bidx)
            .where(col(SmsCode.created_at) > now - timedelta(hours=1))
            .order_by(col(SmsCode.created_at).desc())
        )
    )
    if recent and recent[0] > now - RESEND_AFTER:
        _throttle(
            "a code was sent to this phone less than a minute ago", recent[0] + RESEND_AFTER - now
        )
    if len(recent) >= PER_PHONE_PER_HOUR:
        _throttle("this phone had its codes for the hour", recent[-1] + timedelta(hours=1) - now)
    await session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.phone_bidx == phone_bidx, _TABLE.c.spent_at.is_(None))
        .values(spent_at=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SmsCode(
        phone_bidx=phone_bidx,
        code_mac=code_mac(keyring, phone_bidx, code),
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    return row.id, code


async def withdraw_code(*, session: AsyncSession, code_id: int) -> None:
    """Forget a code that was never sent: it neither counts nor works."""
    await session.execute(sa.delete(_TABLE).where(_TABLE.c.id == code_id))


async def spend_code(
    *, session: AsyncSession, keyring: Keyring, phone_bidx: bytes, code: str, now: datetime
) -> bool:
    """Whether `code` is the phone's current code (unspent, unexpired): a right one is spent,
    a wrong one counts, and the MAX_ATTEMPTS-th wrong one spends the code. Commit either way."""
    await lock_names(session, [("sms-code", phone_bidx.hex())])
    row = await session.scalar(
        sa.select(SmsCode)
        .where(col(SmsCode.phone_bidx) == phone_bidx)
        .where(col(SmsCode.spent_at).is_(None), col(SmsCode.expires_at) > now)
        .order_by(col(SmsCode.id).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if row is None:
        code_mac(keyring, phone_bidx, code)  # the same work whether or not a code was sent
        return False
    right = hmac.compare_digest(row.code_mac, code_mac(keyring, phone_bidx, code))
    row.attempts += 0 if right else 1
    if right or row.attempts >= MAX_ATTEMPTS:
        row.spent_at = now
    session.add(row)
    await session.flush()
    return right


def _throttle(message: str, wait: timedelta) -> None:
    raise Throttled(message, limit="smsPerPhone", retry_after=max(1.0, wait.total_seconds()))
