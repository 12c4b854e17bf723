"""What erasure removes, table by table, and the scan that proves nothing is left.

Every table with a `profile_id` column must appear in PURGED or KEPT below; a test checks the
metadata against them, so a new domain cannot be forgotten.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from cdp.audiences.models import MembershipChange
from cdp.consent.models import Consent, ConsentChange, Contact
from cdp.erasure.export_links import DataExportLink
from cdp.events.keys import forget_keys_of
from cdp.events.models import Event
from cdp.keys.store import KeyStore
from cdp.loyalty.models import Coupon, PointsEntry, PointsLot
from cdp.orders.models import Order
from cdp.outbox.models import OutboxMessage
from cdp.partitions import is_partitioned
from cdp.profiles.directory import ProfileKey, forget_keys, public_id_key
from cdp.profiles.models import Identity, IdentityReview, Profile, ProfileMerge
from cdp.reevaluation import QueuedProfile
from cdp.subscriptions.models import SubscribeGrant, WechatFollow
from cdp.suppression.models import ErasureMode
from cdp.tags.models import ProfileTag

# Removed in both modes (lots before the ledger they point at).
PURGED: tuple[type[SQLModel], ...] = (
    Identity,
    Consent,
    ConsentChange,
    Contact,
    ProfileTag,
    PointsLot,
    PointsEntry,
    Coupon,
    WechatFollow,
    SubscribeGrant,
    MembershipChange,
    QueuedProfile,
    DataExportLink,
    OutboxMessage,  # nothing more is sent to an erased person
)
# Kept for accounting or aggregates, stripped of what is personal (see `purge`).
KEPT: tuple[type[SQLModel], ...] = (Order, Event)
# Tables that hold a profile's id but are handled on their own: the data keys (shredded, in
# the key store), merge records (by survivor), the profile itself.
SPECIAL = (
    "data_keys",
    "profile_merges",
    "identity_reviews",  # by either of its two profiles
    "profile_keys",  # every lookup key (an anonymised profile gets its tombstone's)
    "profiles",
    "audit_events",
    "erasure_requests",
)
# (audit_events and erasure_requests keep the surrogate id on purpose: they prove the erasure.)
# A profile's personal values and their blind indexes: what ANONYMIZE clears.
SEALED_COLUMNS = (
    "union_id_bidx",
    "union_id_ct",
    "phone_bidx",
    "phone_ct",
    "name_ct",
    "address_ct",
    "birthday_ct",
)


# Coarse companions of sealed values, kept in the clear (the birthday's month and five-year
# cohort, the address's province): cleared too.
CLEAR_COLUMNS = ("birth_month", "birth_cohort", "province")


def table_of(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


async def _delete(session: AsyncSession, model: type[SQLModel], profile_id: int) -> int:
    table = table_of(model)
    result = await session.execute(sa.delete(table).where(table.c.profile_id == profile_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _reviews_of(profile_id: int) -> Any:
    return sa.or_(
        col(IdentityReview.profile_id) == profile_id,
        col(IdentityReview.other_profile_id) == profile_id,
    )


async def tombstone_deliveries(session: AsyncSession, profile_id: int, tombstone: str) -> int:
    """Webhook deliveries about the person not yet made go on carrying the tombstone id
    alone, unlinked from the person (the rest of their outbox rows are purged)."""
    waiting = (
        await session.scalars(
            sa.select(OutboxMessage).where(
                col(OutboxMessage.profile_id) == profile_id,
                col(OutboxMessage.kind) == "webhook",
                col(OutboxMessage.state).in_(["PENDING", "SENDING"]),
            )
        )
    ).all()
    for row in waiting:
        row.payload = {**row.payload, "data": {"profileId": tombstone}, "subject": None}
        row.profile_id = None
    await session.flush()
    return len(waiting)


async def purge(
    session: AsyncSession, *, profile_id: int, mode: ErasureMode, tombstone: str
) -> dict[str, Any]:
    """Remove the person's rows; counts per table. Rerunnable: a second run counts zeros."""
    counts: dict[str, Any] = {}
    counts["webhooks_tombstoned"] = await tombstone_deliveries(session, profile_id, tombstone)
    for model in PURGED:
        counts[table_of(model).name] = await _delete(session, model, profile_id)
    merges = await session.execute(
        sa.delete(ProfileMerge).where(col(ProfileMerge.survivor_id) == profile_id)
    )
    counts["profile_merges"] = int(merges.rowcount or 0)  # type: ignore[attr-defined]
    counts["profile_keys"] = await forget_keys(session, profile_id)
    reviews = await session.execute(sa.delete(IdentityReview).where(_reviews_of(profile_id)))
    counts["identity_reviews"] = int(reviews.rowcount or 0)  # type: ignore[attr-defined]
    profile = await session.get(Profile, profile_id)
    if mode is ErasureMode.DELETE:
        # Orders stay for accounting (amounts, dates, items): no address, no link to the person.
        kept = await session.execute(
            sa.update(Order)
            .where(col(Order.profile_id) == profile_id)
            .values(profile_id=None, buyer_tombstone=tombstone, shipping_address_ct=None)
        )
        counts["orders_tombstoned"] = int(kept.rowcount or 0)  # type: ignore[attr-defined]
        if is_partitioned(session):  # the ids of their events go with them
            await forget_keys_of(session, Event.__table__, profile_id)  # type: ignore[attr-defined]
        counts["events"] = await _delete(session, Event, profile_id)
        if profile is not None:
            await session.delete(profile)
        counts["profiles"] = int(profile is not None)
    else:
        stripped = await session.execute(
            sa.update(Order)
            .where(col(Order.profile_id) == profile_id)
            .values(shipping_address_ct=None)
        )
        counts["orders_anonymized"] = int(stripped.rowcount or 0)  # type: ignore[attr-defined]
        cleared = await session.execute(
            sa.update(Event).where(col(Event.profile_id) == profile_id).values(properties={})
        )
        counts["events_anonymized"] = int(cleared.rowcount or 0)  # type: ignore[attr-defined]
        if profile is not None:
            for column in (*SEALED_COLUMNS, *CLEAR_COLUMNS):
                setattr(profile, column, None)
            profile.phone_verified, profile.phone_source = False, None
            profile.public_id = tombstone  # the old id leads nowhere
        counts["profiles_anonymized"] = int(profile is not None)
    await session.flush()
    await forget_keys(session, profile_id)  # the tombstone's, which leads nowhere either
    return counts


async def scan(
    session: AsyncSession,
    *,
    store: KeyStore,
    profile_id: int,
    mode: ErasureMode,
    public_ids: list[str],
    union_hashes: list[bytes],
    phone_hashes: list[bytes],
    open_hashes: list[bytes],
) -> dict[str, int]:
    """Rows that still name the person, per check; all zero when the erasure is complete."""

    async def count(model: type[SQLModel], *where: Any) -> int:
        query = sa.select(sa.func.count()).select_from(table_of(model)).where(*where)
        return int(await session.scalar(query) or 0)

    def of_person(model: type[SQLModel]) -> Any:
        return table_of(model).c.profile_id == profile_id

    found = {table_of(m).name: await count(m, of_person(m)) for m in PURGED}
    found["data_keys"] = len(await store.ids_of([profile_id]))
    found["profile_merges"] = await count(
        ProfileMerge,
        sa.or_(
            col(ProfileMerge.survivor_id) == profile_id,
            col(ProfileMerge.loser_public_id).in_(public_ids),
        ),
    )
    found["identity_reviews"] = await count(IdentityReview, _reviews_of(profile_id))
    named = [public_id_key(p)[0] for p in public_ids] + union_hashes + phone_hashes + open_hashes
    found["profile_keys"] = await count(ProfileKey, col(ProfileKey.key_hash).in_(named))
    found["profiles.public_id"] = await count(Profile, col(Profile.public_id).in_(public_ids))
    found["profiles.union_id_bidx"] = await count(
        Profile, col(Profile.union_id_bidx).in_(union_hashes)
    )
    found["profiles.phone_bidx"] = await count(Profile, col(Profile.phone_bidx).in_(phone_hashes))
    found["identities.open_id_bidx"] = await count(
        Identity, col(Identity.open_id_bidx).in_(open_hashes)
    )
    found["profiles.personal_fields"] = await count(
        Profile,
        col(Profile.id) == profile_id,
        sa.or_(
            *(col(getattr(Profile, c)).is_not(None) for c in SEALED_COLUMNS if c.endswith("_ct"))
        ),
    )
    found["orders.shipping_address"] = await count(
        Order, of_person(Order), col(Order.shipping_address_ct).is_not(None)
    )
    if mode is ErasureMode.DELETE:
        found["orders"] = await count(Order, of_person(Order))
        found["events"] = await count(Event, of_person(Event))
        found["profiles"] = await count(Profile, col(Profile.id) == profile_id)
    return found
