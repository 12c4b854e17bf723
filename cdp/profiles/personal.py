"""Reading and writing a profile's sealed fields: the one place that knows which column holds
which personal value, how it is encoded, and which values have a blind index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.keys.vault import Vault
from cdp.profiles.models import Identity, Profile
from cdp.profiles.values import PostalAddress


@dataclass(frozen=True, slots=True)
class Sealed:
    column: str
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]
    index: str | None = None  # blind-index kind, when the value is looked up by equality
    # Columns kept in the clear beside the sealed value, each a coarse form of it.
    coarse: tuple[tuple[str, Callable[[Any], Any]], ...] = ()


def _month(value: date) -> int:
    return value.month


COHORT_YEARS = 5


def _cohort(value: date) -> int:
    """The first year of the five-year birth cohort (1995 for 1995-1999: "95后")."""
    return value.year - value.year % COHORT_YEARS


def _province(value: PostalAddress) -> str | None:
    return value.province


def _same(value: str) -> str:
    return value


PROFILE_FIELDS: dict[str, Sealed] = {
    "union_id": Sealed("union_id_ct", _same, _same, index="union"),
    "phone": Sealed("phone_ct", _same, _same, index="phone"),
    "name": Sealed("name_ct", _same, _same),
    "address": Sealed(
        "address_ct",
        PostalAddress.to_json,
        PostalAddress.from_json,
        coarse=(("province", _province),),
    ),
    "birthday": Sealed(
        "birthday_ct",
        date.isoformat,
        date.fromisoformat,
        coarse=(("birth_month", _month), ("birth_cohort", _cohort)),
    ),
}
PERSONAL_FIELDS = ("phone", "name", "address", "birthday")
NOT_LOADED: Any = object()  # a value whose data key is not unwrapped yet: `await read_field`


async def read_field(*, session: AsyncSession, vault: Vault, profile: Profile, field: str) -> Any:
    """The decrypted value of one sealed profile field (None when unset)."""
    spec = PROFILE_FIELDS[field]
    blob = getattr(profile, spec.column)
    if blob is None:
        return None
    assert profile.id is not None
    text = await vault.decrypt(
        session, blob, table="profiles", column=spec.column, row_id=profile.id
    )
    return spec.decode(text)


def read_field_now(*, vault: Vault, profile: Profile, field: str) -> Any:
    """`read_field` without a statement: the value, None when unset, or NOT_LOADED."""
    spec = PROFILE_FIELDS[field]
    blob = getattr(profile, spec.column)
    if blob is None:
        return None
    assert profile.id is not None
    text = vault.decrypt_loaded(blob, table="profiles", column=spec.column, row_id=profile.id)
    return NOT_LOADED if text is None else spec.decode(text)


async def write_field(
    *, session: AsyncSession, vault: Vault, profile: Profile, field: str, value: Any
) -> None:
    """Seal `value` (already validated and normalised) into `profile`; None clears it."""
    spec = PROFILE_FIELDS[field]
    assert profile.id is not None, "flush a new profile before sealing its fields"
    if value is None:
        setattr(profile, spec.column, None)
    else:
        text = spec.encode(value)
        setattr(
            profile,
            spec.column,
            await vault.encrypt(
                session,
                text,
                profile_id=profile.id,
                table="profiles",
                column=spec.column,
                row_id=profile.id,
            ),
        )
    if spec.index is not None:
        bidx = None if value is None else vault.blind_index(spec.index, spec.encode(value))
        setattr(profile, f"{field}_bidx", bidx)
    for column, coarsen in spec.coarse:
        setattr(profile, column, None if value is None else coarsen(value))


def _identity_row(identity: Identity) -> str:
    # An identity is one (app id, OpenID): its natural key binds the sealed OpenID to the row
    # before the row has an id, saving an UPDATE per link.
    return f"{identity.app_id}:{identity.open_id_bidx.hex()}"


async def read_open_id(*, session: AsyncSession, vault: Vault, identity: Identity) -> str:
    assert identity.open_id_ct is not None
    return await vault.decrypt(
        session,
        identity.open_id_ct,
        table="identities",
        column="open_id_ct",
        row_id=_identity_row(identity),
    )


def read_open_id_now(*, vault: Vault, identity: Identity) -> str | Any:
    """`read_open_id` without a statement: the OpenID, or NOT_LOADED."""
    assert identity.open_id_ct is not None
    text = vault.decrypt_loaded(
        identity.open_id_ct,
        table="identities",
        column="open_id_ct",
        row_id=_identity_row(identity),
    )
    return NOT_LOADED if text is None else text


async def seal_open_id(
    *, session: AsyncSession, vault: Vault, identity: Identity, open_id: str
) -> None:
    identity.open_id_ct = await vault.encrypt(
        session,
        open_id,
        profile_id=identity.profile_id,
        table="identities",
        column="open_id_ct",
        row_id=_identity_row(identity),
    )
