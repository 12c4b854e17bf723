"""The readers of compiled `me` answers (cdp.graphql.sql_fields holds which field is which):
each returns what a field's resolver returns (before the policy's mask) from the rows of one
read (cdp.readmodel.person), computed as the resolvers compute it (cdp.graphql.profiles,
sealed, loyalty, orders, tags, consent); a spec notes in `Need` what the read must fetch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, Protocol

from cdp.consent.models import current_states
from cdp.graphql.pages import MAX_FIRST, sign_cursor
from cdp.loyalty.coupons import CouponStatus, status_of
from cdp.orders.models import OrderStatus
from cdp.profiles import personal
from cdp.profiles.values import PostalAddress
from cdp.readmodel.person import OrderWants, PersonRead, Wants

Reader = Callable[[Any, "Run"], Any]


class NotCompiled(Exception):
    """The compiled execution cannot answer this exactly: run the generic path."""


class Run(Protocol):
    """What a reader may use of the request being answered."""

    @property
    def vault(self) -> Any: ...
    @property
    def now(self) -> Any: ...
    @property
    def thresholds(self) -> Any: ...


@dataclass
class Need:
    """What the read must fetch, gathered while a document is planned."""

    flags: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    orders: tuple[OrderStatus | None, int] | None = None

    def count(self, name: str, rows: int) -> None:
        if self.counts.setdefault(name, rows) != rows:
            raise NotCompiled(f"{name} asked for twice with different pages")

    def wants(self) -> Wants:
        orders = None
        if self.orders is not None:
            orders = OrderWants(self.orders[0], self.orders[1], "order_items" in self.flags)
        return Wants(
            spend="spend" in self.flags,
            balance="balance" in self.flags,
            identities="identities" in self.flags,
            history=self.counts.get("history"),
            coupons="coupons" in self.flags,
            orders=orders,
            tags="tags" in self.flags,
            consents="consents" in self.flags,
            consent_history=self.counts.get("consent_history"),
            follows="follows" in self.flags,
        )


Spec = Callable[[dict[str, Any], Need], Reader]


@dataclass(slots=True)
class PageOut:
    items: list[Any]
    end_cursor: str | None
    has_next_page: bool


def _first(arguments: dict[str, Any]) -> int:
    if arguments.get("after") is not None:
        raise NotCompiled("a page after a cursor")  # its cursor is checked by the executor
    first = arguments.get("first")
    if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        raise NotCompiled("first out of range")  # the executor says so, in its words
    return int(first)


def _page(run: Run, kind: str, rows: list[Any], first: int, position: Any) -> PageOut:
    """`page_of` (cdp.graphql.pages) over rows fetched `first + 1`."""
    items = rows[:first]
    cursor = sign_cursor(run.vault.keyring, kind, *position(items[-1])) if items else None
    return PageOut(items, cursor, len(rows) > first)


def _by_id(row: Any) -> tuple[int]:
    return (row.id,)


class Attribute:
    """The reader of a plain attribute: the writer reads `name` itself, with no call."""

    __slots__ = ("_get", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._get = attrgetter(name)

    def __call__(self, source: Any, run: Run) -> Any:
        return self._get(source)


def plain(name: str) -> Spec:
    reader = Attribute(name)
    return lambda arguments, need: reader


def needing(flag: str, reader: Reader) -> Spec:
    def spec(arguments: dict[str, Any], need: Need) -> Reader:
        need.flags.add(flag)
        return reader

    return spec


def sealed(name: str, then: Callable[[Any], Any] = lambda v: v) -> Spec:
    def read(source: PersonRead, run: Run) -> Any:
        value = personal.read_field_now(vault=run.vault, profile=source.profile, field=name)
        if value is personal.NOT_LOADED:
            raise NotCompiled("a data key not unwrapped")
        return None if value is None else then(value)

    return lambda arguments, need: read


def open_id(source: Any, run: Run) -> str:
    value = personal.read_open_id_now(vault=run.vault, identity=source)
    if value is personal.NOT_LOADED:
        raise NotCompiled("a data key not unwrapped")
    return str(value)


def shipping_address(source: Any, run: Run) -> PostalAddress | None:
    blob = source.shipping_address_ct
    if blob is None or source.id is None:
        return None
    text = run.vault.decrypt_loaded(
        blob, table="orders", column="shipping_address_ct", row_id=source.id
    )
    if text is None:
        raise NotCompiled("a data key not unwrapped")
    return PostalAddress.from_json(text)


def tier_progress(source: PersonRead, run: Run) -> SimpleNamespace:
    above = run.thresholds.next_above(source.spend)
    return SimpleNamespace(
        spend_fen=source.spend,
        next_tier=None if above is None else above[0],
        next_tier_fen=None if above is None else above[1],
    )


def history(arguments: dict[str, Any], need: Need) -> Reader:
    first = _first(arguments)
    need.count("history", first + 1)
    return lambda source, run: _page(run, "points", source.history, first, _by_id)


def coupons(arguments: dict[str, Any], need: Need) -> Reader:
    first, given = _first(arguments), arguments.get("status")
    status = None if given is None else CouponStatus(given)
    need.flags.add("coupons")

    def read(source: PersonRead, run: Run) -> PageOut:
        rows = source.coupons
        if status is not None:  # the filter of cdp.loyalty.coupons.coupons_of, as of now
            rows = [row for row in rows if status_of(row, run.now) is status]
        return _page(run, "coupons", rows, first, _by_id)

    return read


def orders(arguments: dict[str, Any], need: Need) -> Reader:
    first, given = _first(arguments), arguments.get("status")
    status = None if given is None else OrderStatus(given)
    if need.orders not in (None, (status, first + 1)):
        raise NotCompiled("orders asked for twice with different pages")
    need.orders = (status, first + 1)
    position = attrgetter("paid_at", "id")
    return lambda source, run: _page(run, "orders", source.orders, first, position)


def tags(arguments: dict[str, Any], need: Need) -> Reader:
    first = _first(arguments)
    need.flags.add("tags")

    def read(source: PersonRead, run: Run) -> PageOut:
        end = min(len(source.tags), first)  # an offset cursor: where the next page starts
        return _page(run, "tags", source.tags, first, lambda _: (end,))

    return read


def consent_history(arguments: dict[str, Any], need: Need) -> Reader:
    first = _first(arguments)
    need.count("consent_history", first + 1)
    return lambda source, run: _page(run, "consents", source.consent_history, first, _by_id)


def current(source: PersonRead, run: Run) -> list[SimpleNamespace]:
    rows = {(row.purpose, row.channel): row for row in source.consents}
    return [SimpleNamespace(**state) for state in current_states(rows)]


def row_of(attribute: str) -> Spec:
    getter = attrgetter(f"profile.{attribute}")
    return lambda arguments, need: lambda source, run: getter(source)


def same(arguments: dict[str, Any], need: Need) -> Reader:
    return lambda source, run: source


def items(arguments: dict[str, Any], need: Need) -> Reader:
    need.flags.add("order_items")
    return lambda source, run: source.items


def page_fields() -> dict[str, Spec]:
    return {"items": plain("items"), "pageInfo": same}


def phone_known(name: str) -> Spec:
    getter = attrgetter(name)
    return lambda arguments, need: (
        lambda source, run: None if source.profile.phone_bidx is None else getter(source.profile)
    )
