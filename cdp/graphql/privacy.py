"""The customer's privacy centre in GraphQL: `myPrivacy` (the notice in effect, whether to
choose again, the account's cancellation), the notice registry, a one-use link to one's own
data, cancelling one's account and withdrawing it; for compliance, holding a cancellation."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import strawberry

from cdp.audit.trail import set_target
from cdp.consent import notices
from cdp.consent.notices import PrivacyNotice
from cdp.erasure import export_links
from cdp.graphql.context import Info
from cdp.graphql.enums import expose
from cdp.graphql.erasure import ErasureRequestType
from cdp.graphql.objects import copied, object_type
from cdp.graphql.profiles import own_profile
from cdp.privacy import cancellation
from cdp.suppression.models import ErasureMode, ErasureRequest, ErasureStatus

EXPORT_PATH = "/h5/my-data/"


class DataExportFormat(StrEnum):
    JSON = "JSON"


expose(
    DataExportFormat,
    "DataExportFormat",
    "The file a person's copy of their data comes as.",
    {DataExportFormat.JSON: "One JSON document (cdp.export/1), as compliance's export."},
)


@object_type("PrivacyNotice", description="One version of the brand's privacy notice.")
class PrivacyNoticeType:
    version: str = strawberry.field(description="The version, e.g. 2026-01.")
    title: str = strawberry.field(description="Its title (Chinese).")
    text: str = strawberry.field(description="The notice itself (Chinese).")
    changes: str = strawberry.field(description="What changed from the version before.")
    material: bool = strawberry.field(
        description="A material change: choices made under an older version are asked again."
    )
    effective_at: datetime = strawberry.field(description="When it takes effect (UTC).")

    @classmethod
    def of(cls, row: PrivacyNotice) -> PrivacyNoticeType:
        return copied(cls, row)


@object_type("AccountCancellation", description="The person's cancellation of their account.")
class AccountCancellationType:
    id: strawberry.ID = strawberry.field(description="The erasure request's public id.")
    status: ErasureStatus = strawberry.field(
        description="COOLING_OFF until runsAt, HELD by compliance, EXECUTING, COMPLETED or "
        "WITHDRAWN."
    )
    mode: ErasureMode = strawberry.field(description="How the account will be erased.")
    requested_at: datetime = strawberry.field(description="When the person cancelled (UTC).")
    runs_at: datetime | None = strawberry.field(
        description="When the cooling-off ends and the erasure runs (UTC)."
    )
    withdrawable: bool = strawberry.field(
        description="Whether the person may still withdraw it (cooling off or held)."
    )
    held: bool = strawberry.field(
        description="Compliance holds it for a legal reason; it runs once released."
    )

    @classmethod
    def of(cls, row: ErasureRequest) -> AccountCancellationType:
        return cls(
            id=strawberry.ID(row.public_id),
            status=row.status,
            mode=row.mode,
            requested_at=row.requested_at,
            runs_at=row.runs_at,
            withdrawable=row.status in cancellation.WITHDRAWABLE,
            held=row.status is ErasureStatus.HELD,
        )


@object_type("PrivacyCentre", description="What the member centre's privacy page shows.")
class PrivacyCentreType:
    notice: PrivacyNoticeType | None = strawberry.field(
        description="The privacy notice in effect now."
    )
    accepted_notice_version: str | None = strawberry.field(
        description="The notice version the person's latest consent choice was made under."
    )
    reconsent_needed: bool = strawberry.field(
        description="A material new version took effect since the person's last choice: the "
        "page asks them to review their choices under it."
    )
    cancellation: AccountCancellationType | None = strawberry.field(
        description="The account's cancellation that is not over (null: none)."
    )
    cooling_off_days: int = strawberry.field(
        description="Days between cancelling and the erasure (the person may withdraw)."
    )


@object_type("DataExportLink", description="A one-use link to the person's own data.")
class DataExportLinkType:
    url: str = strawberry.field(
        description="The path to fetch (GET, no token needed): it works once, until expiresAt."
    )
    expires_at: datetime = strawberry.field(description="When the link stops working (UTC).")


@strawberry.input(description="The copy of one's data to prepare.")
class RequestMyDataExportInput:
    format: DataExportFormat = strawberry.field(
        default=DataExportFormat.JSON, description="The file's format."
    )


@strawberry.input(description="The person confirms they cancel their account.")
class CancelMyAccountInput:
    confirm: bool = strawberry.field(description="Must be true: the person confirmed.")


@strawberry.input(description="The cancellation to withdraw.")
class WithdrawMyCancellationInput:
    request_id: strawberry.ID = strawberry.field(description="AccountCancellation.id.")


@strawberry.input(description="A cancellation to hold, and the legal reason.")
class HoldErasureInput:
    request_id: strawberry.ID = strawberry.field(description="ErasureRequest.id.")
    legal_reason: str = strawberry.field(
        description="The legal ground for keeping the data (e.g. an open dispute, a ticket "
        "number), without personal data; kept on the request and in the audit log."
    )


@strawberry.input(description="A held cancellation to release, and why.")
class ReleaseErasureHoldInput:
    request_id: strawberry.ID = strawberry.field(description="ErasureRequest.id.")
    reason: str = strawberry.field(description="Why the hold ends (kept in the audit log).")


@strawberry.type
class PrivacyQueries:
    @strawberry.field(description="The signed-in person's privacy centre. Customer role only.")
    async def my_privacy(self, info: Info) -> PrivacyCentreType | None:
        row = await own_profile(info)
        assert row.id is not None
        async with info.context.uow.session() as session:
            standing = await notices.standing_of(session=session, profile_id=row.id)
            open_request = await cancellation.open_cancellation(session, row.id)
        return PrivacyCentreType(
            notice=None if standing.current is None else PrivacyNoticeType.of(standing.current),
            accepted_notice_version=standing.accepted_version,
            reconsent_needed=standing.reconsent_needed,
            cancellation=None if open_request is None else AccountCancellationType.of(open_request),
            cooling_off_days=info.context.settings.account_cooling_off_days,
        )

    @strawberry.field(
        description="Every version of the privacy notice, newest first. Customer, support, "
        "compliance and service."
    )
    async def privacy_notices(self, info: Info) -> list[PrivacyNoticeType] | None:
        async with info.context.uow.session() as session:
            rows = await notices.all_notices(session)
        return [PrivacyNoticeType.of(row) for row in rows]


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        description="A one-use, short-lived link to a copy of everything cdp holds on the "
        "person (limited per day: QUERY_TOO_COMPLEX with limit `exports`). Customer role only."
    )
    async def request_my_data_export(
        self, info: Info, input: RequestMyDataExportInput
    ) -> DataExportLinkType | None:
        del input  # JSON is the only format so far
        row = await own_profile(info)
        settings = info.context.settings
        async with info.context.uow.atomic("export.link") as session:
            set_target(session, row.id)
            issued = await export_links.issue_link(
                session=session,
                profile=row,
                ttl=timedelta(seconds=settings.my_data_link_ttl_seconds),
                per_day=settings.my_data_exports_per_day,
            )
        return DataExportLinkType(url=EXPORT_PATH + issued.token, expires_at=issued.expires_at)

    @strawberry.mutation(
        description="Cancel one's account (注销账号): the erasure runs when the cooling-off "
        "ends, unless withdrawn. CONFLICT when an erasure is already open. Customer role only."
    )
    async def cancel_my_account(
        self, info: Info, input: CancelMyAccountInput
    ) -> AccountCancellationType | None:
        row = await own_profile(info, writing=True)
        async with info.context.uow.atomic("account.cancel") as session:
            set_target(session, row.id)
            request = await cancellation.cancel_account(
                session=session,
                profile=row,
                settings=info.context.settings,
                confirmed=input.confirm,
            )
        return AccountCancellationType.of(request)

    @strawberry.mutation(
        description="Withdraw one's cancellation while it is cooling off (or held). Customer "
        "role only."
    )
    async def withdraw_my_cancellation(
        self, info: Info, input: WithdrawMyCancellationInput
    ) -> AccountCancellationType | None:
        row = await own_profile(info, writing=True)
        async with info.context.uow.atomic("account.withdraw") as session:
            set_target(session, row.id)
            request = await cancellation.withdraw(
                session=session, profile=row, request_id=input.request_id
            )
        return AccountCancellationType.of(request)

    @strawberry.mutation(
        description="Hold a cancellation that is cooling off, for a recorded legal reason. "
        "Compliance role only."
    )
    async def hold_erasure(self, info: Info, input: HoldErasureInput) -> ErasureRequestType | None:
        async with info.context.uow.atomic("erasure.hold") as session:
            request = await cancellation.hold(
                session=session,
                actor_subject=info.context.principal.subject,
                request_id=input.request_id,
                legal_reason=input.legal_reason,
            )
        return ErasureRequestType.of(request)

    @strawberry.mutation(
        description="Release a held cancellation: it runs when its cooling-off ends (at once "
        "when that has passed). Compliance role only."
    )
    async def release_erasure_hold(
        self, info: Info, input: ReleaseErasureHoldInput
    ) -> ErasureRequestType | None:
        async with info.context.uow.atomic("erasure.release") as session:
            request = await cancellation.release(
                session=session, request_id=input.request_id, reason=input.reason
            )
        return ErasureRequestType.of(request)
