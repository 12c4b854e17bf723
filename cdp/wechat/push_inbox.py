"""The durable inbox of accepted pushes: a message is stored, sealed, in the transaction that
records its dedupe key, before WeChat is answered; the processor takes it from there.

The dedupe key is an HMAC (the blind-index key) over the app and MsgId, or over the app,
the OpenID, CreateTime and Event for events without one: it reveals neither. The message is
sealed under a key derived for the inbox and cleared once processed, so no OpenID stays in
the table in plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.columns import UtcDateTime, enum_column_type, timestamp_field
from cdp.crypto import Keyring, field_aad, open_sealed, seal
from cdp.db import insert_ignoring_duplicates, utcnow
from cdp.wechat.push_message import PushMessage

TABLE = "wechat_push_inbox"
_KEY_LABEL = b"cdp/wechat-push-inbox/v1"
INBOX_KEY_ID = 0  # not a person's data key: the inbox's own derived key


class InboxState(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    DROPPED = "DROPPED"  # refused on processing (a suppressed person, an unusable message)
    FAILED = "FAILED"  # failed unexpectedly too many times


class InboxMessage(SQLModel, table=True):
    __tablename__ = TABLE
    __table_args__ = (sa.Index("ix_wechat_push_inbox_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, unique=True))
    app_id: str = Field(max_length=64, nullable=False)
    message_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    state: InboxState = Field(
        sa_column=sa.Column(enum_column_type(InboxState), nullable=False, index=False)
    )
    attempts: int = Field(default=0, nullable=False)
    outcome: str | None = Field(default=None, max_length=32)
    received_at: datetime = timestamp_field()
    processed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    app_id: str
    dedupe_key: bytes
    message: bytes
    attempts: int


def dedupe_key(keyring: Keyring, app_id: str, message: PushMessage) -> bytes:
    """What makes a retry of this push the same push (WeChat retries three times)."""
    msg_id = message.text("MsgId") or message.text("MsgID")
    if msg_id is not None:
        what = f"msg\x1f{app_id}\x1f{msg_id}"
    else:
        what = (
            f"event\x1f{app_id}\x1f{message.from_user}\x1f{message.create_time}"
            f"\x1f{message.event or message.msg_type}"
        )
    return keyring.blind_index("wechat_push", what)


def _sealer(keyring: Keyring) -> bytes:
    return keyring.derived_key(_KEY_LABEL)


def _aad(key: bytes) -> bytes:
    return field_aad(TABLE, "message_ct", key.hex())


async def accept(
    *, session: AsyncSession, keyring: Keyring, app_id: str, key: bytes, message: bytes
) -> bool:
    """Store the message unless its key is known; False for a duplicate."""
    sealed = seal(_sealer(keyring), message, data_key_id=INBOX_KEY_ID, aad=_aad(key))
    row = {
        "dedupe_key": key,
        "app_id": app_id,
        "message_ct": sealed,
        "state": InboxState.PENDING,
        "attempts": 0,
        "received_at": utcnow(),
    }
    table: sa.Table = InboxMessage.__table__  # type: ignore[attr-defined]
    return bool(await insert_ignoring_duplicates(session, table, [row], key="dedupe_key"))


async def pending(
    *, session: AsyncSession, keyring: Keyring, after: int, limit: int
) -> list[Pending]:
    """The oldest pending messages after id `after`, opened."""
    rows = await session.execute(
        sa.select(
            col(InboxMessage.id),
            col(InboxMessage.app_id),
            col(InboxMessage.dedupe_key),
            col(InboxMessage.message_ct),
            col(InboxMessage.attempts),
        )
        .where(col(InboxMessage.state) == InboxState.PENDING, col(InboxMessage.id) > after)
        .order_by(col(InboxMessage.id))
        .limit(limit)
    )
    key = _sealer(keyring)
    found = []
    for row_id, app_id, dedupe, sealed, attempts in rows:
        dedupe = bytes(dedupe)
        message = open_sealed(key, bytes(sealed), aad=_aad(dedupe)) if sealed else b""
        found.append(Pending(int(row_id or 0), app_id, dedupe, message, int(attempts)))
    return found


async def settle(*, session: AsyncSession, row_id: int, state: InboxState, outcome: str) -> bool:
    """Mark a pending message processed (its content cleared); False when another worker
    already did (on PostgreSQL the second waits for the first's commit, then finds it done)."""
    result = await session.execute(
        sa.update(InboxMessage)
        .where(col(InboxMessage.id) == row_id, col(InboxMessage.state) == InboxState.PENDING)
        .values(state=state, outcome=outcome, message_ct=None, processed_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_attempt(*, session: AsyncSession, row_id: int) -> None:
    await session.execute(
        sa.update(InboxMessage)
        .where(col(InboxMessage.id) == row_id)
        .values(attempts=col(InboxMessage.attempts) + 1)
    )


async def prune(*, session: AsyncSession, older_than: datetime) -> int:
    """Forget settled messages past the replay window: their keys can no longer be replayed."""
    result = await session.execute(
        sa.delete(InboxMessage).where(
            col(InboxMessage.state) != InboxState.PENDING,
            col(InboxMessage.received_at) < older_than,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
