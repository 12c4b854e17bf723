"""The sealed parts of a profile in GraphQL: Address and Identity, and the personal fields'
values, decrypted at once when the profile's data keys are unwrapped (as `me` and `profile`
arrange with `prefetch_keys`), else read with a statement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from cdp.channels import Channel
from cdp.graphql.context import Info, by_key
from cdp.graphql.lookups import key_for, keys_for
from cdp.graphql.objects import object_type
from cdp.graphql.selections import child_fields
from cdp.profiles import personal, service
from cdp.profiles.models import Identity as IdentityRow
from cdp.profiles.models import Profile as ProfileRow
from cdp.profiles.values import PostalAddress

# Fields of Profile that decrypt with the profile's data keys (orders ask for theirs, with
# their page, only when the shipping address is selected).
SEALED_FIELDS = frozenset({"unionId", "phone", "name", "address", "birthday", "identities"})


def _same(value: Any) -> Any:
    return value


@object_type(
    "Address",
    description="A postal address in China; the parts a role's mask hides are null "
    "(support and compliance see province and city only).",
)
class AddressType:
    province: str | None = strawberry.field(description="Province, e.g. 广东省.")
    city: str | None = strawberry.field(description="City, e.g. 深圳市.")
    district: str | None = strawberry.field(description="District, e.g. 南山区.")
    street: str | None = strawberry.field(description="Street and number.")

    @classmethod
    def of(cls, value: PostalAddress | None) -> AddressType | None:
        if value is None:
            return None
        return cls(
            province=value.province, city=value.city, district=value.district, street=value.street
        )


async def _read(info: Info, row: ProfileRow, field: str) -> Any:
    await key_for(info, getattr(row, personal.PROFILE_FIELDS[field].column))
    async with info.context.uow.session() as session:
        return await personal.read_field(
            session=session, vault=info.context.vault, profile=row, field=field
        )


def personal_value(
    info: Info, row: ProfileRow, field: str, then: Callable[[Any], Any] = _same
) -> Any:
    """A sealed field's value, decrypted at once when its data key is unwrapped (as `me` and
    `profile` arrange): no coroutine, no statement. Otherwise an awaitable of it."""
    value = personal.read_field_now(vault=info.context.vault, profile=row, field=field)
    if value is personal.NOT_LOADED:
        return _then(_read(info, row, field), then)
    return then(value)


async def _then(pending: Awaitable[Any], then: Callable[[Any], Any]) -> Any:
    return then(await pending)


async def prefetch_keys(info: Info, row: ProfileRow) -> None:
    """Unwrap the profile's data keys with one statement before its fields resolve, when the
    query reads any sealed field: they then decrypt without waiting."""
    if not _selects_personal(info):
        return
    columns = (spec.column for spec in personal.PROFILE_FIELDS.values())
    await keys_for(info, [getattr(row, column) for column in columns])


def _selects_personal(info: Info) -> bool:
    return any(field.name.value in SEALED_FIELDS for field in child_fields(info))


@object_type("Identity", description="One app's OpenID for this person.")
class IdentityType:
    row: strawberry.Private[IdentityRow]
    channel: Channel = strawberry.field(description="The kind of app.")
    app_id: str = strawberry.field(description="The app's WeChat AppID.")

    @classmethod
    def of(cls, row: IdentityRow) -> IdentityType:
        return cls(row=row, channel=row.channel, app_id=row.app_id, linked_at=row.linked_at)

    @strawberry.field(description="The person's OpenID in this app.")
    def open_id(self, info: Info) -> str:
        value = personal.read_open_id_now(vault=info.context.vault, identity=self.row)
        if value is personal.NOT_LOADED:
            return cast("str", self._read_open_id(info))
        return cast("str", value)

    async def _read_open_id(self, info: Info) -> str:
        await key_for(info, self.row.open_id_ct)
        async with info.context.uow.session() as session:
            return await personal.read_open_id(
                session=session, vault=info.context.vault, identity=self.row
            )

    linked_at: datetime = strawberry.field(description="When the identity was linked (UTC).")


async def _identities(session: AsyncSession, keys: list[int]) -> Mapping[int, list[IdentityRow]]:
    return await service.identities_of(session=session, profile_ids=keys)


IDENTITIES = by_key("identities", _identities)


async def load_identities(info: Info, profile_id: int) -> list[IdentityRow]:
    return await info.context.loader(IDENTITIES).load(profile_id)


def iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
