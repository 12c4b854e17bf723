"""A definition compiled to one SQL statement: the ids of the people it holds for, as one
SELECT over `profiles` whose conditions are IN-subqueries (each leaf one set of profile ids),
the same text on SQLite and PostgreSQL. Nobody is loaded into Python to be tested.

`restrict` narrows every subquery to a few people (the updater's queue), so the statement
that re-evaluates one person reads only that person's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from cdp.audiences import conditions as d
from cdp.columns import UtcDateTime
from cdp.consent.models import DEFAULT_GRANTED, Consent
from cdp.events.models import Event
from cdp.loyalty.models import PointsLot
from cdp.orders.models import COUNTS_AS_SPEND, Order
from cdp.profiles.models import Identity, Profile
from cdp.subscriptions.models import WechatFollow
from cdp.suppression.models import ErasureRequest, ErasureStatus, Suppression, SuppressionKind
from cdp.tags.models import ProfileTag

P: sa.Table = Profile.__table__  # type: ignore[attr-defined]
E: sa.Table = Event.__table__  # type: ignore[attr-defined]
O: sa.Table = Order.__table__  # type: ignore[attr-defined]  # noqa: E741
I: sa.Table = Identity.__table__  # type: ignore[attr-defined]  # noqa: E741
T: sa.Table = ProfileTag.__table__  # type: ignore[attr-defined]
C: sa.Table = Consent.__table__  # type: ignore[attr-defined]
L: sa.Table = PointsLot.__table__  # type: ignore[attr-defined]
F: sa.Table = WechatFollow.__table__  # type: ignore[attr-defined]
R: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]
S: sa.Table = Suppression.__table__  # type: ignore[attr-defined]
SPENT = [s.value for s in COUNTS_AS_SPEND]
ERASED = [ErasureStatus.EXECUTING.value, ErasureStatus.COMPLETED.value]
Condition = sa.ColumnElement[bool]


@dataclass(frozen=True)
class Scope:
    """What a compilation depends on besides the tree: the moment, the brand's time zone
    (for "this month"), the dialect (for JSON), and the people it is restricted to.

    `bound` compiles the moment, the month and the people as named parameters instead of
    values, so one statement serves every re-evaluation (`values` fills them in)."""

    now: datetime
    zone: str
    dialect: str
    restrict: Sequence[int] | None = None
    bound: bool = False
    days: set[int] = field(default_factory=set)  # the windows a bound statement names

    def since(self, days: int) -> Any:
        if not self.bound:
            return self.now - timedelta(days=days)
        self.days.add(days)
        return sa.bindparam(f"since_{days}", type_=UtcDateTime())

    def moment(self) -> Any:
        return sa.bindparam("now", type_=UtcDateTime()) if self.bound else self.now

    def month(self) -> Any:
        return sa.bindparam("month", type_=sa.Integer) if self.bound else self.month_now()

    def month_now(self) -> int:
        return self.now.astimezone(ZoneInfo(self.zone)).month

    def people(self) -> Any:
        return sa.bindparam("ids", expanding=True) if self.bound else self.restrict

    def values(self, days: set[int] | frozenset[int]) -> dict[str, Any]:
        """The parameters of a statement compiled bound, with windows `days`, for this scope."""
        since = {f"since_{d}": self.now - timedelta(days=d) for d in days}
        return {
            "ids": list(self.restrict or ()),
            "now": self.now,
            "month": self.month_now(),
            **since,
        }

    def narrow(self, query: sa.Select[Any], column: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return query if self.restrict is None else query.where(column.in_(self.people()))


def _in(scope: Scope, query: sa.Select[Any], owner: sa.ColumnElement[Any]) -> Condition:
    return P.c.id.in_(scope.narrow(query, owner))


def _property(scope: Scope, key: str, value: d.Scalar) -> Condition:
    item = E.c.properties[key]
    found: Condition
    if isinstance(value, str):
        found = item.as_string() == value
    elif scope.dialect == "postgresql":  # ->> gives text: compare the JSON text of the value
        found = item.as_string() == (str(value).lower() if isinstance(value, bool) else str(value))
    else:
        found = item.as_integer() == int(value)  # SQLite's json_extract: 1/0 for true/false
    return found


def _event(leaf: d.EventLeaf, scope: Scope) -> Condition:
    query = sa.select(E.c.profile_id).where(
        E.c.type == leaf.type, *(_property(scope, k, v) for k, v in leaf.properties)
    )
    if leaf.within_days is not None:
        query = query.where(E.c.occurred_at >= scope.since(leaf.within_days))
    if leaf.at_least > 1:
        query = query.group_by(E.c.profile_id).having(sa.func.count() >= leaf.at_least)
    return _in(scope, query, E.c.profile_id)


def _order(leaf: d.OrderLeaf, scope: Scope) -> Condition:
    query = sa.select(O.c.profile_id).where(O.c.profile_id.is_not(None), O.c.status.in_(SPENT))
    if leaf.channel is not None:
        query = query.where(O.c.channel == leaf.channel)
    if leaf.entry_source is not None:
        query = query.where(O.c.entry_from == leaf.entry_source)
    if leaf.within_days is not None:
        query = query.where(O.c.paid_at >= scope.since(leaf.within_days))
    having = []
    if leaf.at_least > 1:
        having.append(sa.func.count() >= leaf.at_least)
    if leaf.min_spend_fen is not None:
        having.append(sa.func.sum(O.c.total_fen) >= leaf.min_spend_fen)
    if having:
        query = query.group_by(O.c.profile_id).having(*having)
    return _in(scope, query, O.c.profile_id)


def _points(leaf: d.PointsLeaf, scope: Scope) -> Condition:
    # The balance is what remains of unexpired lots (cdp.loyalty.points).
    query = (
        sa.select(L.c.profile_id)
        .where(L.c.remaining > 0, L.c.expires_at > scope.moment())
        .group_by(L.c.profile_id)
        .having(sa.func.sum(L.c.remaining) >= leaf.at_least)
    )
    return _in(scope, query, L.c.profile_id)


def _consent(leaf: d.ConsentLeaf, scope: Scope) -> Condition:
    """Granted as canContact reads it: a recorded choice, else the purpose's default."""
    default = DEFAULT_GRANTED[leaf.purpose]
    choices = sa.select(C.c.profile_id).where(
        C.c.purpose == leaf.purpose, C.c.channel == leaf.channel, C.c.granted.is_(not default)
    )
    differs = _in(scope, choices, C.c.profile_id)  # chose against the default
    granted = ~differs if default else differs
    return granted if leaf.granted else ~granted


def _seen(scope: Scope, within_days: int | None) -> sa.Subquery:
    """(profile, app) for every app a person was seen in: linked, or (within a window) an
    event recorded from it."""
    linked = scope.narrow(sa.select(I.c.profile_id, I.c.app_id), I.c.profile_id)
    if within_days is None:
        return linked.subquery("seen")
    since = scope.since(within_days)
    acted = sa.select(E.c.profile_id, E.c.app_id).where(
        E.c.app_id.is_not(None), E.c.occurred_at >= since
    )
    return sa.union(
        linked.where(I.c.last_seen_at >= since), scope.narrow(acted, E.c.profile_id)
    ).subquery("seen")


def _apps(leaf: d.AppsLeaf, scope: Scope) -> Condition:
    seen = _seen(scope, leaf.within_days)
    query = sa.select(seen.c.profile_id)
    if leaf.app_id is not None:
        query = query.where(seen.c.app_id == leaf.app_id)
    if leaf.at_least > 1:
        having = sa.func.count(sa.distinct(seen.c.app_id)) >= leaf.at_least
        query = query.group_by(seen.c.profile_id).having(having)
    return P.c.id.in_(query)


def _follows(leaf: d.FollowsLeaf, scope: Scope) -> Condition:
    query = sa.select(F.c.profile_id).where(F.c.following.is_(True))
    if leaf.app_id is not None:
        query = query.where(F.c.app_id == leaf.app_id)
    return _in(scope, query, F.c.profile_id)


def _last_seen(leaf: d.LastSeenLeaf, scope: Scope) -> Condition:
    """Not seen for the days: no event, sign-in or paid order since, and not new since."""
    since = scope.since(leaf.at_least_days_ago)
    recent = [
        scope.narrow(sa.select(E.c.profile_id).where(E.c.occurred_at >= since), E.c.profile_id),
        scope.narrow(sa.select(I.c.profile_id).where(I.c.last_seen_at >= since), I.c.profile_id),
        scope.narrow(
            sa.select(O.c.profile_id).where(O.c.profile_id.is_not(None), O.c.paid_at >= since),
            O.c.profile_id,
        ),
    ]
    return sa.and_(P.c.created_at < since, *(~P.c.id.in_(q) for q in recent))


def _birthday(_leaf: d.BirthdayLeaf, scope: Scope) -> Condition:
    month = scope.month()
    # Never NULL (no birthday is simply not this month), so `not` keeps its meaning.
    return sa.and_(P.c.birth_month.is_not(None), P.c.birth_month == month)


LEAVES: dict[type[Any], Callable[[Any, Scope], Condition]] = {
    d.EventLeaf: _event,
    d.OrderLeaf: _order,
    d.PointsLeaf: _points,
    d.TierLeaf: lambda leaf, _scope: P.c.tier.in_(list(leaf.tiers)),
    d.TagLeaf: lambda leaf, scope: _in(
        scope, sa.select(T.c.profile_id).where(T.c.tag == leaf.name), T.c.profile_id
    ),
    d.ConsentLeaf: _consent,
    d.AppsLeaf: _apps,
    d.FollowsLeaf: _follows,
    d.LastSeenLeaf: _last_seen,
    d.BirthdayLeaf: _birthday,
}


def condition(node: d.Node, scope: Scope) -> Condition:
    """The tree as one boolean expression over `profiles.id`."""
    if isinstance(node, d.All):
        return sa.and_(*(condition(item, scope) for item in node.items))
    if isinstance(node, d.AnyOf):
        return sa.or_(*(condition(item, scope) for item in node.items))
    if isinstance(node, d.Not):
        return sa.not_(condition(node.item, scope))
    return LEAVES[type(node)](node, scope)


def excluded(scope: Scope | None = None) -> sa.CompoundSelect[Any]:
    """Ids of people who are never members: erased (an approved erasure), or holding an
    identifier on the suppression list (within `scope.restrict`, when given)."""

    def narrow(query: sa.Select[Any], column: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return query if scope is None else scope.narrow(query, column)

    union_id = sa.and_(S.c.kind == SuppressionKind.UNION_ID.value, S.c.bidx == P.c.union_id_bidx)
    phone = sa.and_(S.c.kind == SuppressionKind.PHONE.value, S.c.bidx == P.c.phone_bidx)
    open_id = sa.and_(S.c.kind == SuppressionKind.OPEN_ID.value, S.c.bidx == I.c.open_id_bidx)
    listed = [
        narrow(sa.select(P.c.id).join(S, union_id), P.c.id),
        narrow(sa.select(P.c.id).join(S, phone), P.c.id),
        narrow(sa.select(I.c.profile_id).join(S, open_id), I.c.profile_id),
        narrow(sa.select(R.c.profile_id).where(R.c.status.in_(ERASED)), R.c.profile_id),
    ]
    return sa.union(*listed)


def members(node: d.Node, scope: Scope) -> sa.Select[Any]:
    """SELECT profiles.id of everyone the definition holds for (within `scope.restrict`)."""
    query = sa.select(P.c.id).where(condition(node, scope), ~P.c.id.in_(excluded(scope)))
    return query if scope.restrict is None else query.where(P.c.id.in_(scope.people()))


def count(node: d.Node, scope: Scope) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(members(node, scope).subquery())
