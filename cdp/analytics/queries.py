"""The measures, as SQL aggregates over the people analysts may count.

Nobody is loaded into Python: each measure is one aggregate query returning a handful of rows.
People who deny ANALYTICS in any channel are left out of every measure; erased people's
tombstoned orders (no profile) are left out too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audiences.models import AUDIENCES
from cdp.consent.models import Consent, ConsentPurpose
from cdp.events.models import Event
from cdp.orders.models import COUNTS_AS_SPEND, Order
from cdp.orders.tiers import WINDOW, TierThresholds
from cdp.profiles.models import Identity, Profile, Tier
from cdp.tags.models import ProfileTag

P = Profile.__table__  # type: ignore[attr-defined]
I = Identity.__table__  # type: ignore[attr-defined]  # noqa: E741
O = Order.__table__  # type: ignore[attr-defined]  # noqa: E741
E = Event.__table__  # type: ignore[attr-defined]
T = ProfileTag.__table__  # type: ignore[attr-defined]
C = Consent.__table__  # type: ignore[attr-defined]
SPEND_STATUSES = [s.value for s in COUNTS_AS_SPEND]


def bounds(start: date, end: date, zone: str) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00) in the brand's time zone, as UTC instants."""
    tz = ZoneInfo(zone)
    return (
        datetime.combine(start, time(), tz).astimezone(ZoneInfo("UTC")),
        datetime.combine(end + timedelta(days=1), time(), tz).astimezone(ZoneInfo("UTC")),
    )


def counted(profile_id: Any) -> Any:
    """The person may be counted: they have not denied ANALYTICS anywhere."""
    denials = C.alias("analytics_denials")
    return ~sa.exists().where(
        denials.c.profile_id == profile_id,
        denials.c.purpose == ConsentPurpose.ANALYTICS.value,
        denials.c.granted.is_(False),
    )


def paid_in(lo: datetime, hi: datetime) -> tuple[Any, ...]:
    """Orders that count as spend, paid in [lo, hi), by a person who may be counted."""
    return (
        O.c.paid_at >= lo,
        O.c.paid_at < hi,
        O.c.profile_id.is_not(None),
        O.c.status.in_(SPEND_STATUSES),
        counted(O.c.profile_id),
    )


def joined_in(lo: datetime, hi: datetime) -> tuple[Any, ...]:
    """Profiles created in [lo, hi) of people who may be counted."""
    return (P.c.created_at >= lo, P.c.created_at < hi, counted(P.c.id))


def within_days(
    session: AsyncSession,
    later: Any,
    earlier: Any,
    after: float,
    up_to: float,
    *,
    inclusive_start: bool = False,
) -> Any:
    """`later` falls more than `after` (or exactly, if inclusive) and at most `up_to` days
    after `earlier`. On PostgreSQL a range on `later` itself, so an index on it serves;
    SQLite keeps timestamps as text, and julianday() reads them to the millisecond."""
    if session.get_bind().dialect.name == "postgresql":

        def shifted(days: float) -> Any:
            return earlier + sa.text(f"interval '{float(days)} days'")

        start = later >= shifted(after) if inclusive_start else later > shifted(after)
        return sa.and_(start, later <= shifted(up_to))
    waited = sa.func.julianday(later) - sa.func.julianday(earlier)
    start = waited >= after if inclusive_start else waited > after
    return sa.and_(start, waited <= up_to)


async def _rows(session: AsyncSession, query: Any) -> Sequence[Any]:
    return (await session.execute(query)).all()


async def members_by_tier(
    session: AsyncSession, lo: datetime, hi: datetime, thresholds: TierThresholds, now: datetime
) -> Sequence[Any]:
    """New members by their tier as of now (paid spend over the last twelve months)."""
    spend = (
        sa.select(O.c.profile_id, sa.func.sum(O.c.total_fen).label("fen"))
        .where(O.c.status.in_(SPEND_STATUSES), O.c.paid_at > now - WINDOW)
        .group_by(O.c.profile_id)
        .subquery()
    )
    fen = sa.func.coalesce(spend.c.fen, 0)
    tier = sa.case(
        (fen >= thresholds.supreme_fen, Tier.SUPREME.value),
        (fen >= thresholds.vip_fen, Tier.VIP.value),
        else_=Tier.STANDARD.value,
    )
    return await _rows(
        session,
        sa.select(tier, sa.func.count())
        .select_from(P.outerjoin(spend, spend.c.profile_id == P.c.id))
        .where(*joined_in(lo, hi))
        .group_by(tier),
    )


def first_sight() -> Any:
    """Each person's first identity (the app they were first seen in) and when."""
    ranked = sa.select(
        I.c.profile_id,
        I.c.channel,
        I.c.linked_at,
        sa.func.row_number()
        .over(partition_by=I.c.profile_id, order_by=(I.c.linked_at, I.c.id))
        .label("rank"),
    ).subquery()
    return (
        sa.select(ranked.c.profile_id, ranked.c.channel, ranked.c.linked_at)
        .where(ranked.c.rank == 1)
        .subquery()
    )


async def members_by_first_channel(
    session: AsyncSession, lo: datetime, hi: datetime
) -> Sequence[Any]:
    first = first_sight()
    return await _rows(
        session,
        sa.select(first.c.channel, sa.func.count())
        .where(first.c.linked_at >= lo, first.c.linked_at < hi, counted(first.c.profile_id))
        .group_by(first.c.channel),
    )


async def tag_counts(session: AsyncSession, lo: datetime, hi: datetime) -> Sequence[Any]:
    return await _rows(
        session,
        sa.select(T.c.tag, sa.func.count(sa.distinct(T.c.profile_id)))
        .where(
            T.c.tagged_at >= lo,
            T.c.tagged_at < hi,
            counted(T.c.profile_id),
            # An audience's tag is counted by the audience (k-anonymous, for marketers).
            T.c.tag.not_in(sa.select(AUDIENCES.c.name)),
        )
        .group_by(T.c.tag),
    )


async def population(session: AsyncSession, lo: datetime, hi: datetime) -> int:
    return int(
        await session.scalar(sa.select(sa.func.count()).select_from(P).where(*joined_in(lo, hi)))
        or 0
    )


async def explicit_choices(session: AsyncSession, lo: datetime, hi: datetime) -> Sequence[Any]:
    """(purpose, channel, granted, people) for the recorded choices of the period's members."""
    return await _rows(
        session,
        sa.select(C.c.purpose, C.c.channel, C.c.granted, sa.func.count())
        .join(P, P.c.id == C.c.profile_id)
        .where(*joined_in(lo, hi))
        .group_by(C.c.purpose, C.c.channel, C.c.granted),
    )


async def orders_by_source(session: AsyncSession, lo: datetime, hi: datetime) -> Sequence[Any]:
    return await _rows(
        session,
        sa.select(
            O.c.entry_from,
            O.c.channel,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(O.c.total_fen), 0),
            sa.func.count(sa.distinct(O.c.profile_id)),
        )
        .where(*paid_in(lo, hi))
        .group_by(O.c.entry_from, O.c.channel),
    )


async def buyers_in(
    session: AsyncSession, lo: datetime, hi: datetime, cells: Sequence[tuple[Any, ...]]
) -> int:
    """Distinct buyers across some (entry source, channel) cells (one buyer can be in many)."""
    which = sa.or_(
        *(
            sa.and_(
                O.c.entry_from.is_(None) if source is None else O.c.entry_from == source,
                O.c.channel == channel,
            )
            for source, channel in cells
        )
    )
    return int(
        await session.scalar(
            sa.select(sa.func.count(sa.distinct(O.c.profile_id))).where(*paid_in(lo, hi), which)
        )
        or 0
    )


async def order_totals(session: AsyncSession, lo: datetime, hi: datetime) -> Any:
    return (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(O.c.total_fen), 0),
                sa.func.count(sa.distinct(O.c.profile_id)),
            ).where(*paid_in(lo, hi))
        )
    ).one()


async def conversion(session: AsyncSession, lo: datetime, hi: datetime, days: int) -> Sequence[Any]:
    """Per channel: people first seen in it in the period, and those whose first order
    followed within `days`."""
    ordered = sa.exists().where(
        O.c.profile_id == I.c.profile_id,
        O.c.status.in_(SPEND_STATUSES),
        within_days(session, O.c.paid_at, I.c.linked_at, 0, days, inclusive_start=True),
    )
    return await _rows(
        session,
        sa.select(
            I.c.channel,
            sa.func.count(sa.distinct(I.c.profile_id)),
            sa.func.count(sa.distinct(sa.case((ordered, I.c.profile_id)))),
        )
        .where(I.c.linked_at >= lo, I.c.linked_at < hi, counted(I.c.profile_id))
        .group_by(I.c.channel),
    )


async def repurchase(session: AsyncSession, lo: datetime, hi: datetime) -> tuple[int, int]:
    """(people with at least one paid order in the period, those with two or more)."""
    per_person = (
        sa.select(O.c.profile_id, sa.func.count().label("orders"))
        .where(*paid_in(lo, hi))
        .group_by(O.c.profile_id)
        .subquery()
    )
    row = (
        await session.execute(
            sa.select(
                sa.func.count(), sa.func.count().filter(per_person.c.orders >= 2)
            ).select_from(per_person)
        )
    ).one()
    return int(row[0]), int(row[1])


async def retention(session: AsyncSession, lo: datetime, hi: datetime) -> tuple[int, int, int]:
    """(new members in the period, those active again within 7 days, within 30 days): active
    means an event or an order after their first day."""

    def active_within(days: int) -> Any:
        return sa.or_(
            sa.exists().where(
                E.c.profile_id == P.c.id,
                within_days(session, E.c.occurred_at, P.c.created_at, 1, days),
            ),
            sa.exists().where(
                O.c.profile_id == P.c.id,
                within_days(session, O.c.paid_at, P.c.created_at, 1, days),
            ),
        )

    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(active_within(7)),
                sa.func.count().filter(active_within(30)),
            ).where(*joined_in(lo, hi))
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
