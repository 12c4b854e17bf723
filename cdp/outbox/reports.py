"""WeChat's delivery reports for messages it accepted: a subscribe message's
SubscribeMsgSentEvent (ErrorCode 0: delivered) and a template message's
TEMPLATESENDJOBFINISH (Status "success"; "failed:user block", "failed: system failed"),
matched to the outbox row by the person and WeChat's msgid (keyword-only, never committing).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.outbox.models import OutboxMessage, OutboxState

STATUS_MAX = 64


async def record_delivery(
    *, session: AsyncSession, profile_id: int, kind: str, msgid: str, delivered: bool, status: str
) -> bool:
    """Mark the person's sent message `msgid` delivered (or not, with WeChat's status);
    False when no such message is found (sent by someone else, or long gone)."""
    if not msgid.isdigit():
        return False
    rows = await session.scalars(
        sa.select(OutboxMessage)
        .where(
            col(OutboxMessage.profile_id) == profile_id,
            col(OutboxMessage.kind) == kind,
            col(OutboxMessage.state) == OutboxState.SENT,
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(200)
    )
    for row in rows:
        if str((row.result or {}).get("msgid")) == msgid:
            row.result = {
                **(row.result or {}),
                "delivered": delivered,
                "status": status[:STATUS_MAX],
            }
            await session.flush()
            return True
    return False
