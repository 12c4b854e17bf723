"""The directory of lookup keys: a profile found by a key that is not its id (public id,
UnionID, phone, OpenID) in one narrow table, `profile_keys` (key hash, kind -> profile id).

On Citus it is distributed by the key's hash, so a lookup reads one shard of the directory and
then the person's shard with the profile id in the WHERE clause: two router queries, never a
scatter over every shard. Its primary key makes a unique kind unique across the whole
cluster, which the per-shard keys of `profiles` and `identities` cannot. On SQLite and one
PostgreSQL node it is just a table, written the same way.

The directory is kept in the transaction of the rows it indexes by one mechanism: after every
flush, the keys of the profiles and identities the flush added, changed or deleted are written
(`_keep_keys`). Statements that move or delete those rows in bulk (a merge, an erasure) call
`move_keys` and `forget_keys` themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel


class KeyKind(StrEnum):
    PUBLIC_ID = "public_id"
    UNION_ID = "union_id"
    PHONE = "phone"  # an unverified claim: several profiles may claim one phone
    VERIFIED_PHONE = "phone_verified"  # its one verified holder
    OPEN_ID = "open_id"  # an OpenID under any app (one may recur across apps)
    APP_OPEN_ID = "app_open_id"  # an OpenID under one app: one identity


SHARED_KINDS = (KeyKind.PHONE, KeyKind.OPEN_ID)  # the kinds several profiles may hold
# A profile's own keys (the rest are those of its rows, which a merge hands on with them).
OWN_KINDS = (KeyKind.PUBLIC_ID, KeyKind.UNION_ID, KeyKind.PHONE, KeyKind.VERIFIED_PHONE)
# Rows found by an idempotency key, which is unique across people: table -> its key column.
# The kind of their keys is the table's name. (Contacts keep theirs apart: retention drops
# whole months of them, keys and all, behind the ORM's back.)
IDEMPOTENT: dict[str, str] = {"coupons": "idempotency_key", "points_ledger": "idempotency_key"}
_UNIQUE = sa.text("kind NOT IN ('phone', 'open_id')")


class ProfileKey(SQLModel, table=True):
    """One lookup key of one profile. `key_hash` is a blind index (UnionID, phone, OpenID)
    or a SHA-256 (public id, app and OpenID): never a personal value."""

    __tablename__ = "profile_keys"
    __table_args__ = (
        # Everything but a shared kind is held by one profile (the distribution column
        # leads, so Citus enforces it across the cluster).
        sa.Index(
            "uq_profile_keys_key",
            "key_hash",
            "kind",
            unique=True,
            sqlite_where=_UNIQUE,
            postgresql_where=_UNIQUE,
        ),
    )

    key_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True))
    profile_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, index=True))


KEYS = ProfileKey.__table__  # type: ignore[attr-defined]
Key = tuple[bytes, str]


def public_id_key(public_id: str) -> Key:
    return hashlib.sha256(b"public_id:" + public_id.encode()).digest(), KeyKind.PUBLIC_ID.value


def app_open_id_key(app_id: str, open_id_bidx: bytes) -> Key:
    digest = hashlib.sha256(b"app_open_id:" + app_id.encode() + b":" + open_id_bidx).digest()
    return digest, KeyKind.APP_OPEN_ID.value


def profile_keys(values: dict[str, Any]) -> set[Key]:
    """The keys of a profile with these column values."""
    keys: set[Key] = set()
    if values.get("public_id"):
        keys.add(public_id_key(values["public_id"]))
    if values.get("union_id_bidx"):
        keys.add((values["union_id_bidx"], KeyKind.UNION_ID.value))
    if values.get("phone_bidx"):
        kind = KeyKind.VERIFIED_PHONE if values.get("phone_verified") else KeyKind.PHONE
        keys.add((values["phone_bidx"], kind.value))
    return keys


def identity_keys(values: dict[str, Any]) -> set[Key]:
    """The keys of an identity with these column values."""
    if not values.get("open_id_bidx") or not values.get("app_id"):
        return set()
    bidx = values["open_id_bidx"]
    return {(bidx, KeyKind.OPEN_ID.value), app_open_id_key(values["app_id"], bidx)}


# The keys of every profile and identity as `profile_keys` and `identity_keys` compute them,
# in SQL for PostgreSQL and Citus (one INSERT ... SELECT each, repartitioned by the key's hash
# on the cluster): migration 0027's backfill, and the bench's after it seeds by COPY.
FILL_SQL = (
    "INSERT INTO profile_keys (key_hash, kind, profile_id) "
    "SELECT sha256(convert_to('public_id:' || public_id, 'UTF8')), 'public_id', id FROM profiles",
    "INSERT INTO profile_keys (key_hash, kind, profile_id) "
    "SELECT union_id_bidx, 'union_id', id FROM profiles WHERE union_id_bidx IS NOT NULL",
    "INSERT INTO profile_keys (key_hash, kind, profile_id) "
    "SELECT phone_bidx, CASE WHEN phone_verified THEN 'phone_verified' ELSE 'phone' END, id "
    "FROM profiles WHERE phone_bidx IS NOT NULL",
    "INSERT INTO profile_keys (key_hash, kind, profile_id) "
    "SELECT DISTINCT open_id_bidx, 'open_id', profile_id FROM identities",
    "INSERT INTO profile_keys (key_hash, kind, profile_id) "
    "SELECT sha256(convert_to('app_open_id:' || app_id || ':', 'UTF8') || open_id_bidx), "
    "'app_open_id', profile_id FROM identities",
    *(
        "INSERT INTO profile_keys (key_hash, kind, profile_id) "
        f"SELECT sha256(convert_to('{table}:' || {column}, 'UTF8')), '{table}', profile_id "
        f"FROM {table}"
        for table, column in IDEMPOTENT.items()
    ),
)


def idempotency_key(table: str, key: str) -> Key:
    return hashlib.sha256(f"{table}:{key}".encode()).digest(), table


def _keyed_by(table: str) -> Any:
    column = IDEMPOTENT[table]

    def keys_of(values: dict[str, Any]) -> set[Key]:
        return {idempotency_key(table, values[column])} if values.get(column) else set()

    return (column,), keys_of


_PROFILE_COLUMNS = ("public_id", "union_id_bidx", "phone_bidx", "phone_verified")
_IDENTITY_COLUMNS = ("app_id", "open_id_bidx")


def _values(obj: Any, columns: Sequence[str], *, before: bool) -> dict[str, Any]:
    """The object's column values now, or as they were before this flush."""
    state = sa.inspect(obj)
    values = {}
    for name in columns:
        if not before:
            values[name] = state.dict.get(name)
            continue
        history = state.attrs[name].history
        old = (history.deleted or history.unchanged or (None,))[0]
        values[name] = old if history.has_changes() else state.dict.get(name)
    return values


# The tables whose rows hold keys: their key columns, and the keys a row's values give.
_KINDS: dict[str, Any] = {
    "profiles": (_PROFILE_COLUMNS, profile_keys),
    "identities": (_IDENTITY_COLUMNS, identity_keys),
    **{table: _keyed_by(table) for table in IDEMPOTENT},
}


def _changes(session: orm.Session) -> tuple[list[tuple[Key, int]], list[tuple[Key, int]]]:
    """(keys to delete, keys to insert) for what this flush wrote."""
    gone: list[tuple[Key, int]] = []
    new: list[tuple[Key, int]] = []
    for obj in [*session.new, *session.dirty, *session.deleted]:
        table = getattr(type(obj), "__tablename__", None)
        if table not in _KINDS:
            continue
        columns, keys_of = _KINDS[table]
        owner = obj.id if table == "profiles" else obj.profile_id
        if owner is None:
            continue
        if obj in session.new:
            new += [(key, owner) for key in keys_of(_values(obj, columns, before=False))]
            continue
        before = keys_of(_values(obj, columns, before=True))
        after = set() if obj in session.deleted else keys_of(_values(obj, columns, before=False))
        gone += [(key, owner) for key in before - after]
        new += [(key, owner) for key in after - before]
    return gone, new


def _rows(keys: Iterable[tuple[Key, int]]) -> list[dict[str, Any]]:
    return [{"h": h, "k": kind, "p": owner} for (h, kind), owner in keys]


_DELETE = sa.delete(KEYS).where(
    KEYS.c.key_hash == sa.bindparam("h"),
    KEYS.c.kind == sa.bindparam("k"),
    KEYS.c.profile_id == sa.bindparam("p"),
)
_DELETE_KEY = sa.delete(KEYS).where(
    KEYS.c.key_hash == sa.bindparam("h"), KEYS.c.kind == sa.bindparam("k")
)
_INSERT = sa.insert(KEYS).values(
    key_hash=sa.bindparam("h"), kind=sa.bindparam("k"), profile_id=sa.bindparam("p")
)


def _keep_keys(session: orm.Session, _context: Any) -> None:
    gone, new = _changes(session)
    if not gone and not new:
        return
    connection = session.connection()
    # Deletes first: a flush may hand a unique key from one profile to another.
    if gone:
        connection.execute(_DELETE, _rows(gone))
    stale = [{"h": h, "k": kind} for (h, kind), _ in new if kind in IDEMPOTENT]
    if stale:
        # An idempotency key is written only after its lookup, under the key's lock, found no
        # row: a key left by rows deleted in bulk (a merge's copy) is stale.
        connection.execute(_DELETE_KEY, stale)
    if new:
        connection.execute(_INSERT, _rows(new))


sa.event.listen(orm.Session, "after_flush", _keep_keys)


async def profile_ids_for(
    session: AsyncSession, keys: Sequence[Key], *, limit: int = 2
) -> list[int]:
    """The profiles holding any of `keys` (one kind's key, or a phone's two kinds), at most
    `limit`, lowest id first. One key's hash is one shard of the directory on Citus."""
    hashes = sorted({h for h, _ in keys})
    condition = sa.or_(*(sa.and_(KEYS.c.key_hash == h, KEYS.c.kind == k) for h, k in keys))
    # A single hash stays an equality, which Citus prunes to its one shard.
    by_hash = KEYS.c.key_hash == hashes[0] if len(hashes) == 1 else KEYS.c.key_hash.in_(hashes)
    statement = (
        sa.select(KEYS.c.profile_id)
        .where(by_hash, condition)
        .distinct()
        .order_by(KEYS.c.profile_id)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def owner_of(session: AsyncSession, key: Key) -> int | None:
    """The profile holding a key of a unique kind (one shard of the directory), or None."""
    found = await profile_ids_for(session, [key], limit=1)
    return found[0] if found else None


async def owners(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, int]:
    """The profile holding each of `keys` (of unique kinds; those held by none absent): one
    statement for a batch, reaching the directory's shards of those hashes only."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(KEYS.c.key_hash, KEYS.c.kind, KEYS.c.profile_id).where(
            KEYS.c.key_hash.in_(sorted({h for h, _ in wanted}))
        )
    )
    return {(h, kind): owner for h, kind, owner in rows if (h, kind) in wanted}


async def move_keys(session: AsyncSession, *, loser_id: int, survivor_id: int) -> int:
    """A merge's step: the keys of the loser's rows (identities, coupons, points) go to the
    survivor with the rows (its own keys go when it is deleted, its values when the survivor
    takes them). Reads the two profiles' keys by profile id: on Citus a scatter, on a merge
    only."""
    own = [kind.value for kind in OWN_KINDS]
    rows = await session.execute(
        sa.select(KEYS.c.key_hash, KEYS.c.kind, KEYS.c.profile_id).where(
            KEYS.c.profile_id.in_([loser_id, survivor_id]), KEYS.c.kind.not_in(own)
        )
    )
    held: dict[int, set[Key]] = {loser_id: set(), survivor_id: set()}
    for h, kind, owner in rows:
        held[owner].add((h, kind))
    if not held[loser_id]:
        return 0
    await session.execute(_DELETE, _rows((key, loser_id) for key in held[loser_id]))
    taken = held[loser_id] - held[survivor_id]
    if taken:
        await session.execute(_INSERT, _rows((key, survivor_id) for key in taken))
    return len(held[loser_id])


async def forget_keys(session: AsyncSession, profile_id: int) -> int:
    """Every key of the person (erasure). On Citus a scatter over the directory's shards."""
    result = await session.execute(sa.delete(KEYS).where(KEYS.c.profile_id == profile_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
