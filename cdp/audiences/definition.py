"""An audience's definition: a condition tree read from JSON, checked whole before anything
runs. A refusal is BAD_USER_INPUT naming the failing path (`all[1].event.withinDays`).

    {"all": [...]} | {"any": [...]} | {"not": {...}} | a leaf, one key of LEAVES
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cdp.audiences.conditions import (
    All,
    AnyOf,
    AppsLeaf,
    BirthdayLeaf,
    ConsentLeaf,
    EventLeaf,
    FollowsLeaf,
    LastSeenLeaf,
    Leaf,
    Node,
    Not,
    OrderLeaf,
    PointsLeaf,
    Scalar,
    TagLeaf,
    TierLeaf,
)
from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.errors import bad_input
from cdp.profiles.models import Tier
from cdp.tags.models import TAG_MAX
from cdp.text import text_fault

MAX_NODES = 50
MAX_DEPTH = 8
MAX_DAYS = 3660
MAX_COUNT = 1_000_000
MAX_FEN = 10**12  # ten billion yuan: beyond any spend
MAX_PROPERTIES = 5
MAX_BYTES = 16_384
PROPERTY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
ID_TEXT = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Reader:
    """Reads one JSON object's fields, each checked, then refuses any field it did not read."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise bad_input(f"{path}: must be an object", field=path)
        self.value: dict[str, Any] = value
        self.path = path
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.value.get(key)

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None:
            return default
        if type(value) is not int or not low <= value <= high:
            raise bad_input(f"{self.at(key)}: must be an integer {low}-{high}", field=self.at(key))
        return value

    def required_int(self, key: str, low: int, high: int) -> int:
        value = self.integer(key, low, high)
        if value is None:
            raise bad_input(f"{self.at(key)}: is required", field=self.at(key))
        return value

    def text(self, key: str, pattern: re.Pattern[str] | None = None, limit: int = 64) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        fine = isinstance(value, str) and 1 <= len(value.strip()) <= limit
        fine = fine and text_fault(value) is None
        if not fine or (pattern is not None and not pattern.fullmatch(value)):
            raise bad_input(f"{self.at(key)}: not an accepted value", field=self.at(key))
        return str(value).strip()

    def choice(self, key: str, kind: Callable[[str], Any]) -> Any:
        value = self.raw(key)
        if value is None:
            return None
        try:
            if isinstance(value, str):
                return kind(value)
        except ValueError:
            pass
        raise bad_input(f"{self.at(key)}: not an accepted value", field=self.at(key))

    def done(self) -> None:
        extra = sorted(set(self.value) - self.seen)
        if extra:
            raise bad_input(f"{self.at(extra[0])}: unknown field", field=self.at(extra[0]))


def _event(r: _Reader) -> EventLeaf:
    kind = r.text("type", EVENT_TYPE)
    if kind is None:
        raise bad_input(f"{r.at('type')}: is required", field=r.at("type"))
    given = r.raw("properties") or {}
    if not isinstance(given, dict) or len(given) > MAX_PROPERTIES:
        field = r.at("properties")
        raise bad_input(f"{field}: an object of at most {MAX_PROPERTIES} values", field=field)
    properties: list[tuple[str, Scalar]] = []
    for key, value in sorted(given.items()):
        field = f"{r.at('properties')}.{key}"
        if not PROPERTY_KEY.fullmatch(key):
            raise bad_input(f"{field}: a property name is letters, digits and _", field=field)
        ok = isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 256)
        if not ok or (isinstance(value, str) and text_fault(value) is not None):
            raise bad_input(f"{field}: must be a string, an integer or a boolean", field=field)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise bad_input(f"{field}: the integer is too large", field=field)
        properties.append((key, value))
    return EventLeaf(
        type=kind,
        properties=tuple(properties),
        at_least=r.integer("atLeast", 1, MAX_COUNT, 1) or 1,
        within_days=r.integer("withinDays", 1, MAX_DAYS),
    )


def _order(r: _Reader) -> OrderLeaf:
    return OrderLeaf(
        at_least=r.integer("atLeast", 1, MAX_COUNT, 1) or 1,
        min_spend_fen=r.integer("minSpendFen", 1, MAX_FEN),
        channel=r.choice("channel", Channel),
        entry_source=r.text("entrySource", ID_TEXT, 32),
        within_days=r.integer("withinDays", 1, MAX_DAYS),
    )


def _tier(r: _Reader) -> TierLeaf:
    given = r.raw("in")
    field = r.at("in")
    if not isinstance(given, list) or not 1 <= len(given) <= len(Tier):
        raise bad_input(f"{field}: a list of 1-{len(Tier)} tiers", field=field)
    tiers = []
    for index, value in enumerate(given):
        try:
            tiers.append(Tier(value))
        except ValueError:
            raise bad_input(f"{field}[{index}]: not a tier", field=f"{field}[{index}]") from None
    return TierLeaf(tuple(sorted(set(tiers))))


def _tag(r: _Reader) -> TagLeaf:
    name = r.text("name", None, TAG_MAX)
    if name is None:
        raise bad_input(f"{r.at('name')}: is required", field=r.at("name"))
    return TagLeaf(" ".join(name.split()))


def _consent(r: _Reader) -> ConsentLeaf:
    purpose, channel = r.choice("purpose", ConsentPurpose), r.choice("channel", Channel)
    for key, value in (("purpose", purpose), ("channel", channel)):
        if value is None:
            raise bad_input(f"{r.at(key)}: is required", field=r.at(key))
    granted = r.raw("granted")
    if granted is not None and not isinstance(granted, bool):
        raise bad_input(f"{r.at('granted')}: must be true or false", field=r.at("granted"))
    return ConsentLeaf(purpose, channel, True if granted is None else granted)


def _apps(r: _Reader) -> AppsLeaf:
    return AppsLeaf(
        at_least=r.integer("atLeast", 1, 64, 1) or 1,
        app_id=r.text("appId", ID_TEXT),
        within_days=r.integer("withinDays", 1, MAX_DAYS),
    )


def _birthday(r: _Reader) -> BirthdayLeaf:
    if r.raw("thisMonth") is not True:
        raise bad_input(f"{r.at('thisMonth')}: must be true", field=r.at("thisMonth"))
    return BirthdayLeaf()


LEAVES: Mapping[str, Callable[[_Reader], Leaf]] = {
    "event": _event,
    "order": _order,
    "points": lambda r: PointsLeaf(r.required_int("atLeast", 1, 10**9)),
    "tier": _tier,
    "tag": _tag,
    "consent": _consent,
    "apps": _apps,
    "follows": lambda r: FollowsLeaf(r.text("appId", ID_TEXT)),
    "lastSeen": lambda r: LastSeenLeaf(r.required_int("atLeastDaysAgo", 1, MAX_DAYS)),
    "birthday": _birthday,
}
GROUPS = ("all", "any", "not")


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0

    def node(self, value: Any, path: str, depth: int) -> Node:
        self.nodes += 1
        where = path or "definition"
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            limits = f"at most {MAX_NODES} conditions, nested at most {MAX_DEPTH} deep"
            raise bad_input(f"{where}: the definition is too large ({limits})", field=where)
        if not isinstance(value, dict) or len(value) != 1:
            known = ", ".join((*GROUPS, *LEAVES))
            raise bad_input(f"{where}: an object with exactly one of {known}", field=where)
        [(key, inner)] = value.items()
        here = f"{path}.{key}" if path else key
        if key == "not":
            return Not(self.node(inner, here, depth + 1))
        if key in ("all", "any"):
            if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_NODES:
                raise bad_input(f"{here}: a list of 1-{MAX_NODES} conditions", field=here)
            items = tuple(self.node(v, f"{here}[{i}]", depth + 1) for i, v in enumerate(inner))
            return All(items) if key == "all" else AnyOf(items)
        read = LEAVES.get(key)
        if read is None:
            raise bad_input(f"{here}: unknown condition", field=here)
        reader = _Reader(inner, here)
        leaf = read(reader)
        reader.done()
        return leaf


def parse_definition(value: Any) -> Node:
    """The checked tree of a JSON definition; BAD_USER_INPUT naming the first failing path."""
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode())
    except (TypeError, ValueError, RecursionError):
        size = MAX_BYTES + 1
    if size > MAX_BYTES:
        raise bad_input(f"definition: larger than {MAX_BYTES} bytes", field="definition")
    return _Parser().node(value, "", 1)
