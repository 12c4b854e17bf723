"""`suppression` for compliance: whether one identifier is on the suppression list, since when
and by which erasure; the answer never repeats the identifier."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from cdp.errors import bad_input
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type
from cdp.profiles.values import normalize_phone
from cdp.suppression import service as suppression
from cdp.suppression.models import SuppressionKind
from cdp.text import check_text

KEY_MAX_LENGTH = 128


@object_type(
    "SuppressionStatus",
    description="Whether an identifier is on the suppression list; never the identifier itself.",
)
class SuppressionStatus:
    kind: SuppressionKind = strawberry.field(description="The kind of identifier given.")
    suppressed: bool = strawberry.field(
        description="True when ingest refuses it (SUPPRESSED) until compliance lifts it."
    )
    since: datetime | None = strawberry.field(
        description="When it was put on the list (UTC); null when not suppressed."
    )
    request_id: strawberry.ID | None = strawberry.field(
        description="The public id of the erasure request that put it there (ErasureRequest.id); "
        "null when not suppressed."
    )


def one_key(
    union_id: str | None, open_id: str | None, phone: str | None, profile_id: str | None
) -> tuple[SuppressionKind, str]:
    """The one identifier given, normalised as the list hashes it; BAD_USER_INPUT otherwise."""
    given = [
        (kind, value)
        for kind, value in (
            (SuppressionKind.UNION_ID, union_id),
            (SuppressionKind.OPEN_ID, open_id),
            (SuppressionKind.PHONE, phone),
            (SuppressionKind.PROFILE, profile_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise bad_input("give exactly one of unionId, openId, phone, profileId")
    kind, value = given[0]
    if kind is SuppressionKind.PHONE:
        return kind, normalize_phone(value)
    field = {SuppressionKind.UNION_ID: "unionId", SuppressionKind.OPEN_ID: "openId"}.get(
        kind, "profileId"
    )
    value = check_text(value, field=field).strip()
    if not value or len(value) > KEY_MAX_LENGTH:
        raise bad_input(f"{field} must be 1-{KEY_MAX_LENGTH} characters", field=field)
    return kind, value


def _key(description: str) -> object:
    return strawberry.argument(description=description)


@strawberry.type
class SuppressionQueries:
    @strawberry.field(
        description="Look up exactly one identifier on the suppression list (audited by its "
        "kind, never its value). Compliance role only."
    )
    async def suppression(
        self,
        info: Info,
        union_id: Annotated[str | None, _key("A WeChat UnionID.")] = None,
        open_id: Annotated[str | None, _key("An OpenID of one of the brand's apps.")] = None,
        phone: Annotated[
            str | None, _key("A phone number in any common form (138 1234 5678).")
        ] = None,
        profile_id: Annotated[
            strawberry.ID | None, _key("An erased profile's former public id.")
        ] = None,
    ) -> SuppressionStatus | None:
        async with info.context.uow.atomic("suppression.read") as session:
            kind, value = one_key(union_id, open_id, phone, profile_id)
            listed = await suppression.look_up(
                session, kind=kind, bidx=suppression.hash_of(info.context.vault, kind, value)
            )
        if listed is None:
            return SuppressionStatus(kind=kind, suppressed=False, since=None, request_id=None)
        return SuppressionStatus(
            kind=kind,
            suppressed=True,
            since=listed.since,
            request_id=(
                None
                if listed.request_public_id is None
                else strawberry.ID(listed.request_public_id)
            ),
        )
