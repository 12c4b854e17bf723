"""Folding one profile into another when they turn out to be the same person.

Each domain that keeps rows per profile writes a merge step (a `MergeStep` over a `Merge`);
the explicit list of them is `cdp.linking.steps.MERGE_STEPS`, above every domain, which a test
checks against every table holding a `profile_id`: nothing lost, nothing duplicated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from cdp.audit import trail as audit
from cdp.config import Settings
from cdp.db import lock_profiles, utcnow
from cdp.distribution import moves_by_copy
from cdp.keys.vault import Vault
from cdp.outbox import events
from cdp.profiles import directory
from cdp.profiles.models import Identity, IdentityReview, Profile, ProfileMerge, ReviewStatus
from cdp.profiles.personal import PROFILE_FIELDS, read_field, write_field


@dataclass(frozen=True)
class Merge:
    """What a merge step works with: the loser's rows go to the survivor."""

    session: AsyncSession
    vault: Vault
    settings: Settings
    survivor: Profile
    loser: Profile


class MergeStep(Protocol):
    def __call__(self, merge: Merge) -> Awaitable[int]: ...


@dataclass(frozen=True)
class Step:
    """One domain's merge step: `move` carries the rows of `tables` (its `name` keys the
    counts kept in the merge record)."""

    name: str
    tables: tuple[str, ...]
    move: MergeStep


async def reassign_rows(merge: Merge, table: Any, *, where: Any = None) -> int:
    """The plain move for a table whose rows carry `profile_id` and nothing unique per profile
    (`where`: only these of the loser's rows). On Citus a distributed table's rows change
    shard: they are copied to the survivor and deleted, in the one distributed transaction."""
    table = getattr(table, "__table__", table)
    condition = table.c.profile_id == merge.loser.id
    if where is not None:
        condition = sa.and_(condition, where)
    if await moves_by_copy(merge.session, table.name):
        moved = await copy_rows(merge, table, where=where)
        await merge.session.execute(sa.delete(table).where(condition))
        return moved
    result = await merge.session.execute(
        sa.update(table).where(condition).values(profile_id=merge.survivor.id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def copy_rows(merge: Merge, table: Any, *, where: Any = None) -> int:
    """Copies of the loser's rows of `table` (those matching `where`) for the survivor, with
    their ids (on Citus the key is (profile_id, id)); the rows copied."""
    table = getattr(table, "__table__", table)
    condition = table.c.profile_id == merge.loser.id
    if where is not None:
        condition = sa.and_(condition, where)
    survivor = sa.literal(merge.survivor.id, sa.Integer)
    columns = [survivor if c.name == "profile_id" else c for c in table.c]
    names = [c.name for c in table.c]
    result = await merge.session.execute(
        sa.insert(table).from_select(names, sa.select(*columns).where(condition))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def move_identities(merge: Merge) -> int:
    return await reassign_rows(merge, Identity)


async def move_keys(merge: Merge) -> int:
    assert merge.loser.id is not None and merge.survivor.id is not None
    return await directory.move_keys(
        merge.session, loser_id=merge.loser.id, survivor_id=merge.survivor.id
    )


async def move_reviews(merge: Merge) -> int:
    """Reviews follow their profiles; one whose two profiles are now one is settled by it."""
    table = IdentityReview.__table__  # type: ignore[attr-defined]
    moved = await reassign_rows(merge, table)
    result = await merge.session.execute(
        sa.update(table)
        .where(table.c.other_profile_id == merge.loser.id)
        .values(other_profile_id=merge.survivor.id)
    )
    moved += int(result.rowcount or 0)  # type: ignore[attr-defined]
    await merge.session.execute(
        sa.update(table)
        .where(
            table.c.profile_id == table.c.other_profile_id,
            table.c.status == ReviewStatus.OPEN.value,
        )
        .values(status=ReviewStatus.MERGED.value, resolved_at=utcnow())
    )
    return moved


async def move_data_keys(merge: Merge) -> int:
    # Whatever the loser's keys sealed (identities, orders, ...) stays readable, and erasing
    # the survivor later destroys these keys too. In the key store, committed at once: should
    # the merge roll back, the keys belong to the survivor early, and a retried merge finds
    # nothing left to move.
    assert merge.loser.id is not None and merge.survivor.id is not None
    return await merge.vault.store.reassign(merge.loser.id, merge.survivor.id)


async def merge_profiles(
    *,
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    survivor: Profile,
    loser: Profile,
    reason: str,
    steps: Sequence[Step],
) -> ProfileMerge:
    """Move everything of `loser` to `survivor`, keep a merge record, delete `loser`.

    The survivor keeps its own personal values and takes the loser's where it has none (and
    the loser's verified phone over its own unverified one).
    Callers hold the locks of both profiles' identifiers; `steps` move the rows of every
    domain (cdp.linking.steps.MERGE_STEPS).
    """
    assert survivor.id is not None and loser.id is not None and survivor.id != loser.id
    await lock_profiles(session, [survivor.id, loser.id], exclusive=True)
    moved = {}
    merge = Merge(session=session, vault=vault, settings=settings, survivor=survivor, loser=loser)
    for step in steps:
        moved[step.name] = await step.move(merge)
    # Sealed values are bound to their row: take the loser's into the survivor by value.
    inherited = {
        field: await read_field(session=session, vault=vault, profile=loser, field=field)
        for field, spec in PROFILE_FIELDS.items()
        if getattr(loser, spec.column) is not None
        and (getattr(survivor, spec.column) is None or _takes_phone(field, survivor, loser))
    }
    phone_state = (loser.phone_verified, loser.phone_source)
    survivor.updated_at = utcnow()
    # Tokens and links naming an earlier loser of `loser` now lead straight to the survivor.
    await session.execute(
        sa.update(ProfileMerge)
        .where(col(ProfileMerge.survivor_id) == loser.id)
        .values(survivor_id=survivor.id)
    )
    record = ProfileMerge(
        survivor_id=survivor.id,
        loser_id=loser.id,
        loser_public_id=loser.public_id,
        reason=reason,
        moved=moved,
    )
    session.add(record)
    audit.record(
        session,
        action="profile.merge",
        profile_id=survivor.id,
        detail={"mergedProfile": loser.id, "reason": reason, "moved": moved},
    )
    await events.note(
        session,
        event=events.PROFILE_MERGED,
        key=loser.public_id,
        data={"profileId": survivor.public_id, "mergedProfileId": loser.public_id},
        subject=survivor.id,
    )
    await session.delete(loser)
    await session.flush()  # frees the loser's unique blind indexes for the survivor
    for field, value in inherited.items():
        await write_field(session=session, vault=vault, profile=survivor, field=field, value=value)
    if "phone" in inherited:
        survivor.phone_verified, survivor.phone_source = phone_state
    await session.flush()
    return record


def _takes_phone(field: str, survivor: Profile, loser: Profile) -> bool:
    # A verified phone outranks an unverified claim: the survivor stays findable by it.
    return field == "phone" and loser.phone_verified and not survivor.phone_verified
