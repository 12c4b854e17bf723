"""Minimum group size: a cell of fewer than k distinct people is suppressed, and enough
siblings (or the total) with it that no suppressed cell can be recovered by subtraction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Cell:
    key: tuple[str | None, ...]
    people: int  # distinct people behind the cell: what k applies to
    values: tuple[int, ...] = ()  # what the cell reports (orders, revenue...); people if empty
    suppressed: bool = False


@dataclass(frozen=True)
class Breakdown:
    cells: tuple[Cell, ...]
    total_people: int
    total_suppressed: bool


def suppress_group(cells: Sequence[Cell], *, k: int, total_people: int) -> Breakdown:
    """Suppress small cells, then their complements: while the suppressed cells number one,
    or together count fewer than k people, the smallest visible cell joins them. The total
    is withheld when it is itself small or when every cell is suppressed but one remains
    derivable from it."""
    result = [replace(c, suppressed=c.people < k) for c in cells]

    def hidden() -> list[int]:
        return [i for i, c in enumerate(result) if c.suppressed]

    while hidden():
        gone = hidden()
        visible = [i for i, c in enumerate(result) if not c.suppressed]
        weak = len(gone) == 1 or sum(result[i].people for i in gone) < k
        if not weak or not visible:
            break
        smallest = min(visible, key=lambda i: (result[i].people, i))
        result[smallest] = replace(result[smallest], suppressed=True)
    total_hidden = total_people < k or (
        bool(hidden()) and sum(result[i].people for i in hidden()) < k
    )
    return Breakdown(cells=tuple(result), total_people=total_people, total_suppressed=total_hidden)


@dataclass(frozen=True)
class Rate:
    key: tuple[str | None, ...]
    numerator: int
    denominator: int
    suppressed: bool

    @property
    def value(self) -> float | None:
        if self.suppressed or self.denominator == 0:
            return None
        return self.numerator / self.denominator


def rate(key: tuple[str | None, ...], numerator: int, denominator: int, *, k: int) -> Rate:
    """A share of people: withheld when either those counted or those not counted are fewer
    than k (each side is a group of people)."""
    small = numerator < k or (denominator - numerator) < k
    return Rate(key=key, numerator=numerator, denominator=denominator, suppressed=small)
