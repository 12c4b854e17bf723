"""Keeping members current: in full (`refresh`, one audience, the difference applied by
INSERT ... SELECT and DELETE in the database) and for a few people (`update`, every audience,
the compiled SQL restricted to them). Either way each entry and exit is a history row.

Members are `profile_tags` rows of source RULE named for the audience. Keyword-only
functions that take the session and never commit; one audience is changed by one
transaction at a time (a lock on its name).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audiences.compiler import Scope, T, excluded, members
from cdp.audiences.definition import parse_definition
from cdp.audiences.models import AUDIENCES, CHANGES, Audience, Change, Trigger, Why
from cdp.audit import trail as audit
from cdp.columns import UtcDateTime
from cdp.config import Settings
from cdp.db import lock_names, utcnow
from cdp.distribution import sequential_on_citus
from cdp.profiles.merge import Merge, reassign_rows
from cdp.reevaluation import note
from cdp.tags.models import TagSource

RULE = TagSource.RULE.value
AUDIENCES_PER_STATEMENT = 4
HISTORY = ["audience_id", "profile_id", "change", "why", "trigger", "version", "run_id", "at"]


@dataclass(frozen=True)
class Applied:
    entered: int = 0
    left: int = 0

    def __add__(self, other: Applied) -> Applied:
        return Applied(self.entered + other.entered, self.left + other.left)


def scope_of(session: AsyncSession, settings: Settings, now: datetime, **more: Any) -> Scope:
    dialect = session.get_bind().dialect.name
    return Scope(now=now, zone=settings.analytics_timezone, dialect=dialect, **more)


def tagged_by(audience: Audience) -> str:
    return f"audience:{audience.name}"[:128]


def _stamp(audience: Audience, trigger: Trigger, run: str, now: datetime) -> list[Any]:
    """The literal columns of a run's history rows: audience, version, trigger, run, time."""
    return [
        sa.literal(audience.id, sa.Integer),
        sa.literal(audience.version, sa.Integer),
        sa.literal(trigger.value),
        sa.literal(run),
        sa.literal(now, UtcDateTime()),
    ]


async def refresh(
    *, session: AsyncSession, audience: Audience, settings: Settings, now: datetime | None = None
) -> Applied:
    """Recompute the audience's members and apply the difference in bulk: rerun, it changes
    nothing (a person already tagged by hand with the name is left as they are)."""
    now = now or utcnow()
    await lock_names(session, [("audience", audience.name)])
    await sequential_on_citus(session)
    scope = scope_of(session, settings, now)
    should = members(parse_definition(audience.definition), scope).subquery("should")
    run, tag = uuid.uuid4().hex, audience.name
    aid, version, trigger, run_id, at = _stamp(audience, Trigger.REFRESH, run, now)
    change = sa.literal(Change.ENTERED.value)
    holders = sa.select(T.c.profile_id).where(T.c.tag == tag)
    entering = sa.select(
        aid, should.c.id, change, sa.literal(Why.MATCHES.value), trigger, version, run_id, at
    ).where(~should.c.id.in_(holders))
    entered = await session.execute(sa.insert(CHANGES).from_select(HISTORY, entering))
    ours = (T.c.tag == tag, T.c.source == RULE)
    why = sa.case(
        (T.c.profile_id.in_(excluded()), Why.EXCLUDED.value),
        else_=Why.NO_LONGER_MATCHES.value,
    )
    leaving = sa.select(
        aid, T.c.profile_id, sa.literal(Change.LEFT.value), why, trigger, version, run_id, at
    ).where(*ours, ~T.c.profile_id.in_(sa.select(should.c.id)))
    left = await session.execute(sa.insert(CHANGES).from_select(HISTORY, leaving))
    await _apply_run(session, audience, run, now)
    counted = sa.select(sa.func.count()).select_from(T).where(*ours)
    audience.member_count = int(await session.scalar(counted) or 0)
    audience.refreshed_version, audience.refreshed_at = audience.version, now
    session.add(audience)
    await session.flush()
    applied = Applied(int(entered.rowcount or 0), int(left.rowcount or 0))  # type: ignore[attr-defined]
    audit.record(
        session,
        action="audience.refresh",
        detail={"audience": tag, "version": audience.version, **applied.__dict__},
    )
    return applied


async def _apply_run(session: AsyncSession, audience: Audience, run: str, now: datetime) -> None:
    """Tag those the run's history says entered, untag those it says left."""
    of_run = (CHANGES.c.run_id == run, CHANGES.c.audience_id == audience.id)
    entered = sa.select(
        CHANGES.c.profile_id,
        sa.literal(audience.name),
        sa.literal(RULE),
        sa.literal(tagged_by(audience)),
        sa.literal(now, UtcDateTime()),
    ).where(*of_run, CHANGES.c.change == Change.ENTERED.value)
    columns = ["profile_id", "tag", "source", "tagged_by", "tagged_at"]
    await session.execute(sa.insert(T).from_select(columns, entered))
    left = sa.select(CHANGES.c.profile_id).where(*of_run, CHANGES.c.change == Change.LEFT.value)
    await session.execute(
        sa.delete(T).where(T.c.tag == audience.name, T.c.source == RULE, T.c.profile_id.in_(left))
    )


# The updater's statements, built once per definition (building one costs more than
# running it for a few people): the moment, the month and the people are parameters.
_RESTRICTED: dict[tuple[Any, ...], tuple[Any, frozenset[int]]] = {}


def _restricted(scope: Scope, audiences: Sequence[Audience]) -> tuple[Any, frozenset[int]]:
    # Keyed by what the statement says (another database may reuse an id and a version).
    key = (scope.dialect, *((a.name, json.dumps(a.definition, sort_keys=True)) for a in audiences))
    cached = _RESTRICTED.get(key)
    if cached is None:
        bound = Scope(scope.now, scope.zone, scope.dialect, restrict=scope.restrict, bound=True)
        parts = [
            members(parse_definition(a.definition), bound).add_columns(sa.literal(a.name))
            for a in audiences
        ]
        statement = parts[0] if len(parts) == 1 else sa.union_all(*parts)
        if len(_RESTRICTED) >= 256:
            _RESTRICTED.clear()
        cached = _RESTRICTED[key] = (statement, frozenset(bound.days))
    return cached


async def update(
    *,
    session: AsyncSession,
    audiences: Sequence[Audience],
    profile_ids: Sequence[int],
    settings: Settings,
    now: datetime | None = None,
) -> Applied:
    """Re-evaluate `profile_ids` against every audience: one statement finds whom each
    holds for among them, one what they carry; only the differences are written."""
    if not audiences or not profile_ids:
        return Applied()
    await sequential_on_citus(session)
    now = now or utcnow()
    ids = sorted(set(profile_ids))
    await lock_names(session, [("audience", a.name) for a in audiences])
    scope = scope_of(session, settings, now, restrict=ids)
    by_name = {a.name: a for a in audiences}
    should: set[tuple[str, int]] = set()
    # A few audiences per statement: each names the people in every subquery.
    for start in range(0, len(audiences), AUDIENCES_PER_STATEMENT):
        statement, days = _restricted(scope, audiences[start : start + AUDIENCES_PER_STATEMENT])
        found = await session.execute(statement, scope.values(days))
        should.update((str(name), int(pid)) for pid, name in found)
    carried = await session.execute(
        sa.select(T.c.tag, T.c.profile_id, T.c.source).where(
            T.c.tag.in_(list(by_name)), T.c.profile_id.in_(ids)
        )
    )
    held, ours = set(), set()
    for tag, pid, source in carried:
        held.add((str(tag), int(pid)))
        if source == RULE:
            ours.add((str(tag), int(pid)))
    entering, leaving = sorted(should - held), sorted(ours - should)
    if not entering and not leaving:
        return Applied()
    out: set[int] = set()
    if leaving:
        barred = excluded(scope).subquery()
        gone = [p for _, p in leaving]
        out = set(await session.scalars(sa.select(barred.c[0]).where(barred.c[0].in_(gone))))
    run = uuid.uuid4().hex

    def row(name: str, pid: int, change: Change, why: Why) -> dict[str, Any]:
        audience = by_name[name]
        return {
            "audience_id": audience.id,
            "profile_id": pid,
            "change": change.value,
            "why": why.value,
            "trigger": Trigger.UPDATE.value,
            "version": audience.version,
            "run_id": run,
            "at": now,
        }

    history = [row(n, p, Change.ENTERED, Why.MATCHES) for n, p in entering]
    history += [
        row(n, p, Change.LEFT, Why.EXCLUDED if p in out else Why.NO_LONGER_MATCHES)
        for n, p in leaving
    ]
    await session.execute(sa.insert(CHANGES), history)
    if entering:
        tags = [
            {
                "profile_id": p,
                "tag": n,
                "source": RULE,
                "tagged_by": tagged_by(by_name[n]),
                "tagged_at": now,
            }
            for n, p in entering
        ]
        await session.execute(sa.insert(T), tags)
    for name in sorted({n for n, _ in leaving}):
        gone = [p for n, p in leaving if n == name]
        await session.execute(
            sa.delete(T).where(T.c.tag == name, T.c.source == RULE, T.c.profile_id.in_(gone))
        )
    deltas = Counter(by_name[n].id for n, _ in entering)
    deltas.subtract(by_name[n].id for n, _ in leaving)
    if changed := {aid: d for aid, d in deltas.items() if d and aid is not None}:
        delta = sa.case(changed, value=AUDIENCES.c.id, else_=0)
        await session.execute(
            sa.update(AUDIENCES)
            .where(AUDIENCES.c.id.in_(sorted(changed)))
            .values(member_count=AUDIENCES.c.member_count + delta)
        )
    applied = Applied(len(entering), len(leaving))
    audit.record(
        session, action="audience.update", detail={"profiles": len(ids), **applied.__dict__}
    )
    return applied


async def move_history(merge: Merge) -> int:
    """The loser's membership history goes to the survivor, who is re-evaluated (the loser's
    RULE tags moved with its tags; its queued re-evaluations go with it)."""
    note(merge.session, [merge.survivor.id])
    return await reassign_rows(merge, CHANGES)
