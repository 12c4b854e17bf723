"""Monthly partitions on PostgreSQL: behaviour events, contact records and audit records are
range-partitioned by month of their time (migration 0025), so that retention drops a month
whole instead of deleting its rows. SQLite keeps one table each (retention deletes rows).

A month's partition is `<table>_pYYYYMM`; `<table>_default` takes any row whose month has no
partition yet, so an insert never fails for want of one. The months ahead are created by the
migration and by every retention run (`ensure_ahead`), which also gives the months the
default partition holds rows of a partition each (taking those rows over).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.db import lock_key

AHEAD_MONTHS = 3  # months created ahead of the current one
# A partition dropped waits this long for the table's lock (a long query holding it), then
# the drop fails and the next round tries again, instead of queueing every writer behind it.
DROP_LOCK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Spec:
    """A partitioned table: the column that picks the month, and its partitions' storage."""

    table: str
    column: str
    storage: str = ""


EVENTS = Spec("events", "occurred_at")
CONTACTS = Spec("contacts", "sent_at")
# The sealer's update stays HOT (migration 0017): every partition keeps room on its pages.
AUDIT = Spec("audit_events", "occurred_at", "fillfactor = 80")
SPECS = (EVENTS, CONTACTS, AUDIT)
_MONTHLY = re.compile(r"_p(\d{4})(\d{2})$")


def month_of(at: datetime) -> datetime:
    """The first instant (UTC) of the month `at` falls in."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # inclusive
    end: datetime  # exclusive


def partition_of(spec: Spec, month: datetime) -> Partition:
    return Partition(f"{spec.table}_p{month:%Y%m}", month, next_month(month))


def default_of(spec: Spec) -> str:
    return f"{spec.table}_default"


def is_partitioned(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def partitions(session: AsyncSession, spec: Spec) -> list[Partition]:
    """The table's monthly partitions, oldest first (the default one is not among them)."""
    names = await session.scalars(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": spec.table},
    )
    found = []
    for name in names:
        match = _MONTHLY.search(name)
        if match is not None:
            month = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
            found.append(Partition(name, month, next_month(month)))
    return sorted(found, key=lambda p: p.start)


def _literal(at: datetime) -> str:
    return f"'{at.isoformat()}'"


async def ensure_month(session: AsyncSession, spec: Spec, month: datetime) -> bool:
    """Create the partition of `month` unless it exists (moving in the rows the default
    partition holds for it); True when it was created. Serialised per table."""
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("partitions", spec.table)}
    )
    part = partition_of(spec, month)
    if part in await partitions(session, spec):
        return False
    storage = f" WITH ({spec.storage})" if spec.storage else ""
    within = f"{spec.column} >= {_literal(part.start)} AND {spec.column} < {_literal(part.end)}"
    # A table of its own first, attached once filled: ATTACH checks the default partition
    # holds no row of the month, and the rows it held move with the month's creation.
    await session.execute(
        sa.text(
            f"CREATE TABLE {part.name} (LIKE {spec.table} INCLUDING DEFAULTS "
            f"INCLUDING CONSTRAINTS){storage}"
        )
    )
    moved = default_of(spec)
    await session.execute(
        sa.text(
            f"WITH moved AS (DELETE FROM {moved} WHERE {within} RETURNING *) "
            f"INSERT INTO {part.name} SELECT * FROM moved"
        )
    )
    await session.execute(
        sa.text(
            f"ALTER TABLE {spec.table} ATTACH PARTITION {part.name} "
            f"FOR VALUES FROM ({_literal(part.start)}) TO ({_literal(part.end)})"
        )
    )
    return True


async def ensure_ahead(session: AsyncSession, now: datetime, months: int = AHEAD_MONTHS) -> int:
    """For every table: the current month's partition and the next `months`', and one for each
    month the default partition holds rows of (rows loaded or aged into the past); how many
    were new."""
    made = 0
    for spec in SPECS:
        held = await session.scalars(
            sa.text(
                f"SELECT DISTINCT date_trunc('month', {spec.column}, 'UTC') FROM {default_of(spec)}"
            )
        )
        wanted = {month_of(at) for at in held}
        month = month_of(now)
        for _ in range(months + 1):
            wanted.add(month)
            month = next_month(month)
        for month in sorted(wanted):
            made += await ensure_month(session, spec, month)
    return made


async def drop(session: AsyncSession, part: Partition) -> None:
    """Drop a partition (its rows with it), waiting at most DROP_LOCK_TIMEOUT for the lock
    (for the rest of the transaction: drop last)."""
    await session.execute(sa.text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
    await session.execute(sa.text(f"DROP TABLE {part.name}"))


async def rows_in(session: AsyncSession, part: Partition) -> int:
    return int(await session.scalar(sa.text(f"SELECT count(*) FROM {part.name}")) or 0)
