"""Differencing: whatever days, weeks and months an analyst asks for, and however they add and
subtract the published cells, no count of fewer than k people (and more than none) comes out."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.analytics.periods import Granularity, Period, covering, period_of, segments
from cdp.analytics.publish import Kind, Tally, publish

K = 5
KEYS = ("a", "b", "c")
# Four ISO weeks around a month's end and the start of the next (two boundaries inside weeks).
FIRST, LAST = date(2026, 1, 26), date(2026, 3, 8)
DAYS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
Atom = tuple[str, date, str]  # (key, day, part): the people behind one part of one cell
Fact = tuple[frozenset[Atom], int]


def all_periods() -> list[Period]:
    periods: list[Period] = []
    for granularity in Granularity:
        periods += [p for p in covering(FIRST, LAST, granularity) if p.starts >= FIRST]
    return [p for p in periods if p.last_day <= LAST]


def facts_of(released: dict[date, dict[str, Tally]], *, rates: bool, partition: bool) -> list[Fact]:
    """Every number an analyst can read, as the set of atoms it counts: the visible cells of
    every period, and (worst case) each period's population."""
    facts: list[Fact] = []
    for period in all_periods():
        shown = publish(period, released, KEYS, k=K, kind=Kind.COHORT, partition=partition)
        for cell in shown:
            if cell.tally is None or not cell.complete:
                continue  # a sum of visible days only tells what the days do
            atoms = {(cell.key, d) for d in period.days}
            if rates:
                assert cell.tally.did is not None
                did = frozenset((key, d, "did") for key, d in atoms)
                did_not = frozenset((key, d, "not") for key, d in atoms)
                facts += [(did, cell.tally.did), (did_not, cell.tally.people - cell.tally.did)]
            else:
                facts.append((frozenset((key, d, "all") for key, d in atoms), cell.tally.people))
        people = sum(released[d][key].people for d in period.days for key in KEYS)
        if partition and (people == 0 or people >= K):
            # A population of k or more may be known (another answer, or the brand's own).
            everyone = frozenset((key, d, "all") for key in KEYS for d in period.days)
            facts.append((everyone, people))
    return facts


def about_someone(atoms: frozenset[Atom], released: dict[date, dict[str, Tally]]) -> bool:
    """Whether a learnt count says something of what its people are: on a day it counts
    people of, it leaves out others. A count of everyone who joined on some days says nothing
    of anyone (it is what a known population already is)."""

    def people(key: str, day: date) -> int:
        return released[day][key].people

    days = {d for key, d, _part in atoms if people(key, d)}
    return any(people(key, d) and (key, d, "all") not in atoms for d in days for key in KEYS)


def attack(facts: list[Fact], chooser: random.Random) -> list[tuple[frozenset[Atom], int]]:
    """Start from one to three disjoint facts and subtract facts lying inside what is left,
    in a random order: every intermediate remainder is a count the analyst has learnt."""
    learnt: list[tuple[frozenset[Atom], int]] = []
    for _ in range(60 if facts else 0):
        start = chooser.sample(facts, min(len(facts), chooser.randint(1, 3)))
        atoms: set[Atom] = set()
        value = 0
        for fact_atoms, fact_value in start:
            if atoms & fact_atoms:
                break
            atoms |= fact_atoms
            value += fact_value
        order = facts[:]
        chooser.shuffle(order)
        for fact_atoms, fact_value in order:
            if fact_atoms <= atoms and fact_atoms:
                atoms -= fact_atoms
                value -= fact_value
                learnt.append((frozenset(atoms), value))
    return learnt


COUNTS = st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 14])


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(COUNTS, min_size=len(DAYS) * len(KEYS), max_size=len(DAYS) * len(KEYS)),
    partition=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_sum_or_difference_of_published_counts_isolates_fewer_than_k_people(
    counts: list[int], partition: bool, seed: int
) -> None:
    released = {
        day: {key: Tally(counts[i * len(KEYS) + j]) for j, key in enumerate(KEYS)}
        for i, day in enumerate(DAYS)
    }
    facts = facts_of(released, rates=False, partition=partition)
    learnt = attack(facts, random.Random(seed))
    for atoms, value in learnt:
        assert value == sum(released[d][key].people for key, d, _part in atoms)
        assert value == 0 or value >= K or not about_someone(atoms, released), (
            sorted(atoms),
            value,
        )


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(
        st.tuples(COUNTS, COUNTS), min_size=len(DAYS) * len(KEYS), max_size=len(DAYS) * len(KEYS)
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_difference_of_published_rates_isolates_fewer_than_k_who_did_or_did_not(
    counts: list[tuple[int, int]], seed: int
) -> None:
    released = {
        day: {
            key: Tally(sum(counts[i * len(KEYS) + j]), counts[i * len(KEYS) + j][0])
            for j, key in enumerate(KEYS)
        }
        for i, day in enumerate(DAYS)
    }
    for atoms, value in attack(
        facts_of(released, rates=True, partition=False), random.Random(seed)
    ):
        assert value == 0 or value >= K, (sorted(atoms), value)


def test_a_day_alone_under_k_hides_the_month_that_would_give_it_away() -> None:
    """The month's 19 less the 18 of its visible days would be one person."""
    days = {date(2026, 3, 10): {"x": Tally(18)}, date(2026, 3, 31): {"x": Tally(1)}}
    march = period_of(date(2026, 3, 1), Granularity.MONTH)
    assert [c.tally for c in publish(march, days, ["x"], k=K, kind=Kind.COHORT)] == [None]
    days[date(2026, 3, 30)] = {"x": Tally(4)}  # 03-30 and 03-31 share a run: 5 hidden
    assert [c.tally for c in publish(march, days, ["x"], k=K, kind=Kind.COHORT)] == [Tally(23)]


def test_runs_split_at_sundays_and_at_the_first_of_a_month() -> None:
    week = period_of(date(2026, 3, 31), Granularity.WEEK)  # Monday 30 March to Sunday 5 April
    assert [(r[0].isoformat(), len(r)) for r in segments(week)] == [
        ("2026-03-30", 2),
        ("2026-04-01", 5),
    ]
    march = period_of(date(2026, 3, 14), Granularity.MONTH)
    assert [len(r) for r in segments(march)] == [1, 7, 7, 7, 7, 2]
