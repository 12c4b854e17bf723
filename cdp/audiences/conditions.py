"""The condition tree of an audience, as checked values: groups (all, any, not) over leaves,
one dataclass per kind of condition (cdp.audiences.definition reads them from JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.profiles.models import Tier

Scalar = str | int | bool


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class EventLeaf:
    type: str
    properties: tuple[tuple[str, Scalar], ...] = ()
    at_least: int = 1
    within_days: int | None = None


@dataclass(frozen=True)
class OrderLeaf:
    at_least: int = 1
    min_spend_fen: int | None = None
    channel: Channel | None = None
    entry_source: str | None = None
    within_days: int | None = None


@dataclass(frozen=True)
class PointsLeaf:
    at_least: int


@dataclass(frozen=True)
class TierLeaf:
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class TagLeaf:
    name: str


@dataclass(frozen=True)
class ConsentLeaf:
    purpose: ConsentPurpose
    channel: Channel
    granted: bool = True


@dataclass(frozen=True)
class AppsLeaf:
    at_least: int = 1
    app_id: str | None = None
    within_days: int | None = None


@dataclass(frozen=True)
class FollowsLeaf:
    app_id: str | None = None


@dataclass(frozen=True)
class LastSeenLeaf:
    at_least_days_ago: int


@dataclass(frozen=True)
class BirthdayLeaf:
    """Born in the current month (of the brand's time zone)."""


Leaf = (
    EventLeaf
    | OrderLeaf
    | PointsLeaf
    | TierLeaf
    | TagLeaf
    | ConsentLeaf
    | AppsLeaf
    | FollowsLeaf
    | LastSeenLeaf
    | BirthdayLeaf
)
Node = All | AnyOf | Not | Leaf
