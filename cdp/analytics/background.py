"""`cdp serve`'s analytics releaser: shortly after start and then every
`CDP_ANALYTICS_RELEASE_INTERVAL_HOURS`, it releases the closed days of the last 400 for every
series measure (what `cdp analytics release` does), one span per transaction, so that an
analyst's first question about a year reads kept results instead of computing them inside
the request (at ten million events that takes longer than a request may run).

One process at a time does the work on PostgreSQL (a transaction-scoped advisory lock per
span; the others skip it); released days are kept as they were, so a repeat costs a read.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from cdp.analytics.series import recent_asks, release_ask
from cdp.config import Settings
from cdp.db import Database, lock_key, utcnow
from cdp.outages import outage_of

log = logging.getLogger(__name__)
RELEASE_LOCK = lock_key("analytics", "release")
FIRST_ROUND_AFTER_SECONDS = 60.0  # a starting process serves first
DAYS = 400


class AnalyticsReleaser:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings, self.database = settings, database

    async def round(self) -> int:
        """Release every span; how many this process released (0 when another held them)."""
        now, zone, done = utcnow(), self.settings.analytics_timezone, 0
        for ask in recent_asks(zone=zone, now=now, days=DAYS):
            async with self.database.transaction() as session:
                if self.database.dialect == "postgresql" and not await session.scalar(
                    sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELEASE_LOCK}
                ):
                    continue
                await release_ask(session, ask=ask, zone=zone, now=now)
                done += 1
        return done

    async def run(self) -> None:
        """Until cancelled: a round a minute after start, then one per interval."""
        await asyncio.sleep(FIRST_ROUND_AFTER_SECONDS)
        while True:
            try:
                await self.round()
            except Exception as exc:  # an outage, or worse: logged, tried at the next round
                log.warning(
                    "analytics release paused",
                    extra={"error_type": type(exc).__qualname__, "outage": bool(outage_of(exc))},
                )
            await asyncio.sleep(self.settings.analytics_release_interval_hours * 3600)
