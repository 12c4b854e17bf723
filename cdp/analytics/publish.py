"""What may be published of a measure's released days, per period, so that no subtraction of
published numbers isolates fewer than k people.

A day's tally per key is released once, after the day (and the measure's wait) is over, and
never changes. Every published number is then a function of released days only:

- a day cell is shown when its people, and for a rate both those who did and those who did
  not, number at least k; for a measure whose keys split one population (age bands, regions)
  the hidden cells of a day must also hold k people together or none (complementary
  suppression, as the day's population may be known);
- a week or month of a *cohort* measure (each person counted on the one day they entered it)
  sums its days, and is shown only when, in every run of days sharing one ISO week and one
  month (`periods.segments`), the hidden days hold k people or none, for every part of the
  cell (people, did, did not). Every day, week and month is a union of such runs, so any sum
  and difference of published cells that counts a set of people counts visible cells (each k
  or more) and whole runs of hidden ones (each k or more, or none);
- a week or month of an *activity* measure (people counted once per day they were active),
  or of a measure whose keys split a population (whose total may be known: the population
  less one visible week would otherwise give away the hidden days of the other keys), sums
  only its visible days (`complete` false when a day was left out): it tells nothing the days
  do not;
- a week or month of a *snapshot* measure (members as of a day) is its last day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from cdp.analytics.periods import Granularity, Period, segments


class Kind(StrEnum):
    COHORT = "COHORT"
    ACTIVITY = "ACTIVITY"
    SNAPSHOT = "SNAPSHOT"


@dataclass(frozen=True, slots=True)
class Tally:
    """One key on one day, as released: people, those of them who did (for a rate), and
    the events behind them (what was done, and what it was done out of)."""

    people: int
    did: int | None = None
    events: int = 0
    base_events: int = 0

    def parts(self) -> tuple[int, ...]:
        """The groups of people the tally shows: all, or those who did and those who did not."""
        if self.did is None:
            return (self.people,)
        return (self.did, self.people - self.did)

    def __add__(self, other: Tally) -> Tally:
        did = None if self.did is None and other.did is None else (self.did or 0) + (other.did or 0)
        return Tally(
            self.people + other.people,
            did,
            self.events + other.events,
            self.base_events + other.base_events,
        )


NOTHING = Tally(0)
Days = Mapping[date, Mapping[str, Tally]]


@dataclass(frozen=True, slots=True)
class Shown:
    key: str
    tally: Tally | None  # None: suppressed
    complete: bool = True  # False: hidden days were left out of the sum


def _small(tally: Tally, k: int) -> bool:
    return any(part < k for part in tally.parts())


def _complement(cells: dict[str, Tally], hidden: set[str], k: int) -> set[str]:
    """Hide the smallest visible cells until the hidden ones hold k people or none, and are
    not one alone (whose count would be the population less the visible cells)."""
    hidden = set(hidden)
    while hidden:
        held = sum(cells[key].people for key in hidden)
        if held == 0 or (held >= k and len(hidden) > 1):
            break
        visible = sorted((c.people, key) for key, c in cells.items() if key not in hidden)
        if not visible:
            break
        hidden.add(visible[0][1])
    return hidden


def day_hidden(
    cells: Mapping[str, Tally], keys: Sequence[str], k: int, partition: bool
) -> set[str]:
    full = {key: cells.get(key, NOTHING) for key in keys}
    hidden = {key for key, tally in full.items() if _small(tally, k)}
    return _complement(full, hidden, k) if partition else hidden


def _runs_hold_k(
    period: Period, key: str, days: Days, hidden: Mapping[date, set[str]], k: int
) -> bool:
    zero = _zero_like(days, key)
    for run in segments(period):
        held = sum((days.get(d, {}).get(key, zero) for d in run if key in hidden[d]), start=zero)
        if any(0 < part < k for part in held.parts()):
            return False
    return True


def publish(
    period: Period,
    days: Days,
    keys: Sequence[str],
    *,
    k: int,
    kind: Kind,
    partition: bool = False,
) -> list[Shown]:
    """The cells of `period` for `keys`, from the released `days` (every day of the period)."""
    hidden = {day: day_hidden(days.get(day, {}), keys, k, partition) for day in period.days}
    if period.granularity is Granularity.DAY:
        cells = days.get(period.starts, {})
        return [
            Shown(key, None if key in hidden[period.starts] else cells.get(key, NOTHING))
            for key in keys
        ]
    if kind is Kind.SNAPSHOT:
        last = period.last_day
        cells = days.get(last, {})
        return [
            Shown(key, None if key in hidden[last] else cells.get(key, NOTHING)) for key in keys
        ]
    if kind is Kind.ACTIVITY or partition:
        shown = []
        for key in keys:
            seen = [days.get(d, {}).get(key, NOTHING) for d in period.days if key not in hidden[d]]
            total = sum(seen, start=_zero_like(days, key))
            complete = len(seen) == len(period.days)
            shown.append(Shown(key, total if seen else None, complete))
        return shown
    sums = {
        key: sum((days.get(d, {}).get(key, NOTHING) for d in period.days), _zero_like(days, key))
        for key in keys
    }
    coarse_hidden = {
        key
        for key in keys
        if _small(sums[key], k) or not _runs_hold_k(period, key, days, hidden, k)
    }
    return [Shown(key, None if key in coarse_hidden else sums[key]) for key in keys]


def _zero_like(days: Days, key: str) -> Tally:
    """Nothing, as a rate when the key's tallies are rates."""
    for cells in days.values():
        tally = cells.get(key)
        if tally is not None:
            return Tally(0, None if tally.did is None else 0)
    return NOTHING
