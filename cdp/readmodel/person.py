"""One person as a member's own page reads them, by one SQL statement: the profile row with
its spend, points balance, identities, ledger, coupons, orders (with their items), tags,
consents and follows, each list a JSON aggregate built by the database, selected as `Wants`
says. The statement is built once per dialect and `Wants`.

The rows come back as the ORM would give them (attribute names and value types of the
models), in the orders the domain services read them in (cdp.orders.queries, cdp.loyalty,
cdp.tags, cdp.consent, cdp.subscriptions), so what is computed from them is computed alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.columns import UtcDateTime
from cdp.consent.models import Consent, ConsentChange
from cdp.loyalty.models import Coupon, PointsEntry, PointsLot
from cdp.orders.models import COUNTS_AS_SPEND, Order, OrderItem, OrderStatus
from cdp.orders.tiers import WINDOW
from cdp.profiles.models import Identity, Profile
from cdp.readmodel.json_rows import Shape, json_agg, json_array, nested, pairs
from cdp.subscriptions.models import WechatFollow
from cdp.tags.models import ProfileTag


@dataclass(frozen=True)
class OrderWants:
    status: OrderStatus | None
    limit: int
    items: bool


@dataclass(frozen=True)
class Wants:
    """What of the person a read fetches; `history`, `consent_history` and the orders'
    `limit` are row counts (a page's `first + 1`)."""

    spend: bool = False
    balance: bool = False
    identities: bool = False
    history: int | None = None
    coupons: bool = False
    orders: OrderWants | None = None
    tags: bool = False
    consents: bool = False
    consent_history: int | None = None
    follows: bool = False


@dataclass
class PersonRead:
    """The rows read: each with the attributes of its model's instances (SimpleNamespaces:
    typed Any, as the domain functions that read them take the model)."""

    profile: Any
    spend: int = 0
    balance: int = 0
    due: bool = False  # points lots to write off first: only the points service may
    identities: list[Any] = field(default_factory=list)
    history: list[Any] = field(default_factory=list)
    coupons: list[Any] = field(default_factory=list)
    orders: list[Any] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)
    consents: list[Any] = field(default_factory=list)
    consent_history: list[Any] = field(default_factory=list)
    follows: list[Any] = field(default_factory=list)


PROFILE = Shape.of(Profile)
SHAPES: dict[str, Shape] = {
    "identities": Shape.of(Identity),
    "history": Shape.of(PointsEntry),
    "coupons": Shape.of(Coupon),
    "orders": Shape.of(Order),
    "tags": Shape.of(ProfileTag),
    "consents": Shape.of(Consent),
    "consent_history": Shape.of(ConsentChange),
    "follows": Shape.of(WechatFollow),
}
ITEMS = Shape.of(OrderItem)
_NOW = sa.bindparam("now", type_=UtcDateTime())
_SINCE = sa.bindparam("since", type_=UtcDateTime())


def _listed(
    dialect: str,
    shape: Shape,
    table: Any,
    where: list[Any],
    order_by: tuple[Any, ...],
    limit: int | None = None,
    extra: Any = None,
) -> Any:
    """A JSON array of `table`'s rows (ranked in `order_by`), up to `limit`; `extra(sub)` an
    expression appended to each row's array (a nested list)."""
    rank = sa.func.row_number().over(order_by=order_by).label("rank_")
    inner = sa.select(*table.c, rank).where(*where)
    if limit is not None:
        inner = inner.order_by(*order_by).limit(limit)
    sub = inner.subquery()
    element = shape.element(dialect, sub.c, sub.c.rank_)
    if extra is not None:
        element = json_array(dialect, element, extra(sub))
    return sa.select(json_agg(dialect, element)).select_from(sub).scalar_subquery()


@lru_cache(maxsize=64)
def statement(dialect: str, wants: Wants) -> sa.Select[Any]:
    """The one statement (parameters `subject`, `now`, `since`) that reads what `wants` says."""
    profiles = Profile.__table__  # type: ignore[attr-defined]
    target = sa.select(profiles).where(profiles.c.public_id == sa.bindparam("subject")).cte()
    pid = sa.select(target.c.id).scalar_subquery()
    columns: list[Any] = [target.c[name].label(f"p_{name}") for name in PROFILE.names]
    orders, lots = Order.__table__, PointsLot.__table__  # type: ignore[attr-defined]
    if wants.spend:
        total = sa.func.coalesce(sa.func.sum(orders.c.total_fen), 0)
        spend = sa.select(total).where(
            orders.c.profile_id == pid,
            orders.c.status.in_(COUNTS_AS_SPEND),
            orders.c.paid_at > _SINCE,
        )
        columns.append(spend.scalar_subquery().label("spend"))
    if wants.balance:
        held = (lots.c.profile_id == pid, lots.c.remaining > 0)
        live = sa.func.sum(lots.c.remaining).filter(lots.c.expires_at > _NOW)
        balance = sa.select(sa.func.coalesce(live, 0)).where(*held)
        due = sa.select(sa.func.count().filter(lots.c.expires_at <= _NOW)).where(*held)
        columns.append(balance.scalar_subquery().label("balance"))
        columns.append(due.scalar_subquery().label("due"))
    for name, (model, order_by, limit) in _lists(wants).items():
        table = model.__table__  # type: ignore[attr-defined]
        where = [table.c.profile_id == pid]
        extra = None
        if name == "orders":
            assert wants.orders is not None
            if wants.orders.status is not None:
                where.append(table.c.status == wants.orders.status)
            if wants.orders.items:
                extra = _items_of(dialect)
        order = tuple(o(table.c) for o in order_by)
        column = _listed(dialect, SHAPES[name], table, where, order, limit, extra)
        columns.append(column.label(name))
    return sa.select(*columns).select_from(target)


def _items_of(dialect: str) -> Any:
    items = OrderItem.__table__  # type: ignore[attr-defined]

    def extra(sub: Any) -> Any:
        element = ITEMS.element(dialect, items.c, items.c.position)
        listed = sa.select(json_agg(dialect, element)).where(items.c.order_id == sub.c.id)
        return nested(dialect, listed.scalar_subquery())

    return extra


def _lists(wants: Wants) -> dict[str, tuple[type, tuple[Any, ...], int | None]]:
    """The lists wanted: their model, the order the domain service reads them in, a limit."""
    found: dict[str, tuple[type, tuple[Any, ...], int | None]] = {}
    if wants.identities:
        found["identities"] = (Identity, (_asc("linked_at"), _asc("id")), None)
    if wants.history is not None:
        found["history"] = (PointsEntry, (_desc("id"),), wants.history)
    if wants.coupons:
        found["coupons"] = (Coupon, (_desc("id"),), None)
    if wants.orders is not None:
        found["orders"] = (Order, (_desc("paid_at"), _desc("id")), wants.orders.limit)
    if wants.tags:
        found["tags"] = (ProfileTag, (_asc("tag"),), None)
    if wants.consents:
        found["consents"] = (Consent, (_asc("id"),), None)
    if wants.consent_history is not None:
        found["consent_history"] = (ConsentChange, (_desc("id"),), wants.consent_history)
    if wants.follows:
        found["follows"] = (WechatFollow, (_asc("app_id"), _asc("id")), None)
    return found


def _asc(name: str) -> Any:
    return lambda c: c[name].asc()


def _desc(name: str) -> Any:
    return lambda c: c[name].desc()


async def read_person(
    *, session: AsyncSession, public_id: str, wants: Wants, now: datetime
) -> PersonRead | None:
    """The person whose profile has `public_id` (a merged-away id is not followed: None, as
    for nobody), as `wants` says, as of `now`."""
    dialect = session.get_bind().dialect.name
    query = statement(dialect, wants)
    row = await session.execute(query, {"subject": public_id, "now": now, "since": now - WINDOW})
    found = row.mappings().one_or_none()
    if found is None:
        return None
    profile = SimpleNamespace(**{name: found[f"p_{name}"] for name in PROFILE.names})
    read = PersonRead(profile=profile)
    if wants.spend:
        read.spend = int(found["spend"] or 0)
    if wants.balance:
        read.balance, read.due = int(found["balance"] or 0), bool(found["due"])
    for name in _lists(wants):
        if name == "orders":
            read.orders = _orders(found[name], wants)
        else:
            setattr(read, name, SHAPES[name].rows(found[name]))
    return read


def _orders(value: Any, wants: Wants) -> list[SimpleNamespace]:
    assert wants.orders is not None
    if not wants.orders.items:
        return SHAPES["orders"].rows(value)
    orders = []
    for element, items in pairs(value):
        order = SHAPES["orders"].row(element[1:])
        order.items = ITEMS.rows(items)
        orders.append(order)
    return orders
