"""What no single transaction causes, turned into events by the worker's rounds:

- audience changes: `audience_membership_changes` read in id order after a stored cursor,
  each noted as audience.entered or .left in the transaction that moves the cursor. Ids are
  handed out at insert and committed in any order, so only changes older than the longest a
  transaction may stay open (the statement timeout, plus a margin) are read: a change
  committed late is still ahead of the cursor when it is read.
- pruning: finished rows deleted once no cap counts them (`CDP_OUTBOX_KEEP_DAYS`), domain
  events a week after they were handled.
- expiries: points lots and coupons ending `days` ahead, per the points.expiring and
  coupon.expiring triggers, once per person and day (or coupon): the keys make a sweep that
  runs every hour queue each reminder once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from cdp.activation.messages import Recipient, queue_messages
from cdp.activation_config import TriggerOn
from cdp.audiences.models import AUDIENCES, CHANGES, Change
from cdp.config import Settings
from cdp.db import Database
from cdp.loyalty.models import Coupon, PointsLot
from cdp.outbox import events
from cdp.outbox.models import OUTBOX, OutboxCursor
from cdp.profiles.models import Profile

AUDIENCE_CURSOR = "audience_membership_changes"
EVENTS_KEPT = timedelta(days=7)
P: sa.Table = Profile.__table__  # type: ignore[attr-defined]


def settle_lag(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.statement_timeout_seconds + 5)


async def relay_audience_changes(
    database: Database, settings: Settings, now: datetime, *, limit: int = 1000
) -> int:
    """Note the next committed audience changes as events; how many."""
    async with database.transaction() as session:
        cursor = await session.get(OutboxCursor, AUDIENCE_CURSOR, with_for_update=True)
        if cursor is None:
            cursor = OutboxCursor(name=AUDIENCE_CURSOR, position=0, updated_at=now)
            session.add(cursor)
            await session.flush()
        rows = (
            await session.execute(
                sa.select(
                    CHANGES.c.id,
                    CHANGES.c.profile_id,
                    CHANGES.c.change,
                    CHANGES.c.why,
                    AUDIENCES.c.name,
                    P.c.public_id,
                )
                .join(AUDIENCES, AUDIENCES.c.id == CHANGES.c.audience_id)
                .join(P, P.c.id == CHANGES.c.profile_id)
                .where(CHANGES.c.id > cursor.position, CHANGES.c.at <= now - settle_lag(settings))
                .order_by(CHANGES.c.id)
                .limit(limit)
            )
        ).all()
        for row in rows:
            entered = row.change == Change.ENTERED.value
            await events.note(
                session,
                event=events.AUDIENCE_ENTERED if entered else events.AUDIENCE_LEFT,
                key=str(row.id),
                data={"profileId": row.public_id, "audience": row.name, "why": row.why},
                subject=row.profile_id,
            )
        if rows:
            cursor.position, cursor.updated_at = rows[-1].id, now
        return len(rows)


async def sweep_expiring(database: Database, settings: Settings, now: datetime) -> int:
    """Queue the expiry reminders due now; how many were new."""
    zone = ZoneInfo(settings.activation_timezone)
    queued = 0
    for trigger in settings.activation_triggers:
        if trigger.on not in (TriggerOn.POINTS_EXPIRING, TriggerOn.COUPON_EXPIRING):
            continue
        day = (now.astimezone(zone) + timedelta(days=trigger.days)).date()
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        end = start + timedelta(days=1)
        async with database.transaction() as session:
            if trigger.on is TriggerOn.POINTS_EXPIRING:
                found = await session.execute(
                    sa.select(col(PointsLot.profile_id), sa.func.sum(col(PointsLot.remaining)))
                    .where(
                        col(PointsLot.remaining) > 0,
                        col(PointsLot.expires_at) >= start,
                        col(PointsLot.expires_at) < end,
                    )
                    .group_by(col(PointsLot.profile_id))
                    .order_by(col(PointsLot.profile_id))
                )
                recipients = [
                    Recipient(
                        pid,
                        f"points-expiring:{pid}:{day.isoformat()}:{trigger.template}",
                        {"points": str(points), "expires_on": day.isoformat()},
                    )
                    for pid, points in found
                ]
            else:
                coupons = await session.execute(
                    sa.select(col(Coupon.id), col(Coupon.profile_id), col(Coupon.title))
                    .where(
                        col(Coupon.redeemed_at).is_(None),
                        col(Coupon.valid_until) >= start,
                        col(Coupon.valid_until) < end,
                    )
                    .order_by(col(Coupon.id))
                )
                recipients = [
                    Recipient(
                        pid,
                        f"coupon-expiring:{cid}:{trigger.template}",
                        {"coupon_title": title, "expires_on": day.isoformat()},
                    )
                    for cid, pid, title in coupons
                ]
            for first in range(0, len(recipients), 500):
                done = await queue_messages(
                    session=session,
                    settings=settings,
                    name=trigger.template,
                    recipients=recipients[first : first + 500],
                    now=now,
                )
                queued += sum(1 for q in done if q.new)
    return queued


async def prune_outbox(database: Database, settings: Settings, now: datetime) -> int:
    """Delete finished rows past their keeping (a row a cap still counts is kept); how many."""
    longest = max([rule.hours for rule in settings.activation_caps], default=0.0)
    keep = max(timedelta(days=settings.outbox_keep_days), timedelta(hours=longest))
    finished = OUTBOX.c.state.in_(["SENT", "REFUSED", "DEAD", "UNCERTAIN"])
    async with database.transaction() as session:
        events = await session.execute(
            sa.delete(OUTBOX).where(
                OUTBOX.c.kind == "event", finished, OUTBOX.c.finished_at < now - EVENTS_KEPT
            )
        )
        others = await session.execute(
            sa.delete(OUTBOX).where(
                OUTBOX.c.kind != "event", finished, OUTBOX.c.finished_at < now - keep
            )
        )
    return int(events.rowcount or 0) + int(others.rowcount or 0)  # type: ignore[attr-defined]
