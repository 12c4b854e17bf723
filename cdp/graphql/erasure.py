"""Compliance in GraphQL: erasure requests, their approval and execution, suppression lifts,
and the export of one person's data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

import sqlalchemy as sa
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from strawberry.scalars import JSON

from cdp.audit.trail import AuditTrail
from cdp.db import utcnow
from cdp.erasure import export, service
from cdp.erasure.execution import execute_erasure
from cdp.errors import CdpError, bad_input
from cdp.graphql.context import Info, by_key
from cdp.graphql.enums import ErasureStep
from cdp.graphql.lookups import profile_write
from cdp.graphql.objects import copied, object_type
from cdp.graphql.pages import (
    DEFAULT_FIRST,
    After,
    First,
    Page,
    id_page,
)
from cdp.graphql.profile_queries import PURPOSE_MAX_LENGTH, check_purpose
from cdp.graphql.suppression import one_key
from cdp.profiles.models import Profile
from cdp.suppression import service as suppression
from cdp.suppression.models import (
    CLOSED,
    ErasureMode,
    ErasureOrigin,
    ErasureRequest,
    ErasureStatus,
    SuppressionKind,
)
from cdp.text import check_text
from cdp.unit_of_work import audited_transaction


async def _public_ids(session: AsyncSession, keys: list[int]) -> Mapping[int, str | None]:
    rows = await session.execute(
        sa.select(col(Profile.id), col(Profile.public_id)).where(col(Profile.id).in_(keys))
    )
    found = {int(pid or 0): public for pid, public in rows}
    return {key: found.get(key) for key in keys}


PUBLIC_IDS = by_key("erasure-profile-ids", _public_ids)


@object_type("ErasureRequest", description="A request to erase one person, and its progress.")
class ErasureRequestType:
    id: strawberry.ID = strawberry.field(description="The request's public id.")
    profile_surrogate_id: int = strawberry.field(
        description="The person's internal surrogate id (as in the audit log)."
    )
    mode: ErasureMode = strawberry.field(description="Delete the person, or anonymize them.")
    status: ErasureStatus = strawberry.field(description="Where the request stands.")
    origin: ErasureOrigin = strawberry.field(
        description="Whose request: a compliance officer's, or the person's own cancellation."
    )
    runs_at: datetime | None = strawberry.field(
        description="A cancellation: when its cooling-off ends and it runs (UTC)."
    )
    hold_reason: str | None = strawberry.field(
        description="The legal reason compliance holds a cancellation for."
    )
    held_by: str | None = strawberry.field(description="The officer who held it.")
    held_at: datetime | None = strawberry.field(description="When it was held (UTC).")
    withdrawn_at: datetime | None = strawberry.field(
        description="When the person withdrew their cancellation (UTC)."
    )
    reason: str = strawberry.field(description="Why, as the requester said.")
    requested_by: str = strawberry.field(description="The requesting officer's subject.")
    requested_at: datetime = strawberry.field(description="When it was requested (UTC).")
    due_at: datetime = strawberry.field(description="When the law expects it done (UTC).")
    approved_by: str | None = strawberry.field(description="The approving officer's subject.")
    approved_at: datetime | None = strawberry.field(description="When it was approved (UTC).")
    completed_at: datetime | None = strawberry.field(description="When it completed (UTC).")
    step: ErasureStep = strawberry.field(description="The last step done.")
    overdue: bool = strawberry.field(
        description="Not completed, and its due date has passed (as of now)."
    )
    receipt: JSON = strawberry.field(
        description="What each step did: counts per table, the verification scan."
    )

    @classmethod
    def of(cls, row: ErasureRequest) -> ErasureRequestType:
        return copied(
            cls,
            row,
            id=strawberry.ID(row.public_id),
            profile_surrogate_id=row.profile_id,
            step=ErasureStep(row.step),
            overdue=row.status not in CLOSED and row.due_at < utcnow(),
        )

    @strawberry.field(
        description="The person's public profile id while the request is open; null once "
        "it has completed (the id is then on the suppression list)."
    )
    async def profile_id(self, info: Info) -> strawberry.ID | None:
        if self.status is ErasureStatus.COMPLETED:
            return None
        found = await info.context.loader(PUBLIC_IDS).load(self.profile_surrogate_id)
        return None if found is None else strawberry.ID(found)


@object_type("ErasureRequestPage", description="One page of erasure requests.")
class ErasureRequestPage(Page[ErasureRequestType]):
    pass


@object_type("ProfileExport", description="Everything cdp holds on one person.")
class ProfileExport:
    generated_at: datetime = strawberry.field(description="When it was made (UTC).")
    document: JSON = strawberry.field(
        description="The person's data, decrypted: profile, identities, points, coupons, "
        "orders, tags, consent history, contacts, events."
    )


@object_type("SuppressionLift", description="The outcome of lifting a suppression.")
class SuppressionLift:
    kind: SuppressionKind = strawberry.field(description="The kind of identifier given.")
    lifted: bool = strawberry.field(description="False when it was not suppressed.")


PROFILE_ID = "The public profile id."
ID_MAX_LENGTH = 36  # a UUID
STATED = f"Why, 1-{PURPOSE_MAX_LENGTH} characters (kept in the audit log)."


@strawberry.input(description="The person to erase, how, and why.")
class RequestErasureInput:
    profile_id: strawberry.ID = strawberry.field(description=PROFILE_ID)
    mode: ErasureMode = strawberry.field(description="Delete the person, or anonymize them.")
    reason: str = strawberry.field(description="Why, without personal data (e.g. a ticket number).")


@strawberry.input(description="The request to approve.")
class ApproveErasureInput:
    request_id: strawberry.ID = strawberry.field(description="ErasureRequest.id.")


@strawberry.input(description="The person to export, and why.")
class ExportProfileInput:
    profile_id: strawberry.ID = strawberry.field(description=PROFILE_ID)
    purpose: str = strawberry.field(description=STATED)


@strawberry.input(description="Exactly one identifier of the returning person, and why.")
class LiftSuppressionInput:
    reason: str = strawberry.field(description=STATED)
    union_id: str | None = strawberry.field(default=None, description="Their WeChat UnionID.")
    open_id: str | None = strawberry.field(default=None, description="An OpenID of theirs.")
    phone: str | None = strawberry.field(default=None, description="Their phone number.")
    profile_id: strawberry.ID | None = strawberry.field(
        default=None, description="Their former public profile id."
    )


def _principal_trail(info: Info) -> AuditTrail:
    return AuditTrail.of(
        info.context.principal,
        key=info.context.vault.keyring.audit_key,
        request_id=info.context.request_id,
    )


@strawberry.type
class ErasureQueries:
    @strawberry.field(description="Erasure requests, newest first. Compliance role only.")
    async def erasure_requests(
        self,
        info: Info,
        status: Annotated[
            ErasureStatus | None,
            strawberry.argument(description="Only requests in this status; null: all."),
        ] = None,
        first: First = DEFAULT_FIRST,
        after: After = None,
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the request with this public id."),
        ] = None,
        overdue: Annotated[
            bool,
            strawberry.argument(
                description="Only requests not completed by their due date, as of now."
            ),
        ] = False,
    ) -> ErasureRequestPage | None:
        if id is not None:
            check_text(id, field="id")
            if len(id) > ID_MAX_LENGTH:
                raise bad_input("id is an erasure request's id (ErasureRequest.id)", field="id")
        requests = partial(
            service.list_requests,
            status=status,
            public_id=id,
            overdue_at=utcnow() if overdue else None,
        )
        page, page_info = await id_page(info, "erasures", first, after, requests)
        info.context.uow.trail.record(action="erasure.list", detail={"returned": len(page)})
        return ErasureRequestPage(
            items=[ErasureRequestType.of(row) for row in page], page_info=page_info
        )


@strawberry.type
class ErasureMutations:
    @strawberry.mutation(
        description="Open an erasure request; another officer approves it. Compliance role only."
    )
    async def request_erasure(
        self, info: Info, input: RequestErasureInput
    ) -> ErasureRequestType | None:
        async with profile_write(info, "erasure.request", input.profile_id) as (session, profile):
            request = await service.request_erasure(
                session=session,
                actor=info.context.principal,
                profile=profile,
                mode=input.mode,
                reason=input.reason,
                due_in=timedelta(days=info.context.settings.erasure_due_days),
            )
        return ErasureRequestType.of(request)

    @strawberry.mutation(
        description="Approve (as a different officer: else CONFLICT) and execute an erasure. "
        "Compliance role only."
    )
    async def approve_erasure(
        self, info: Info, input: ApproveErasureInput
    ) -> ErasureRequestType | None:
        context = info.context
        # Execution runs in transactions of its own, one per step: end the request's first.
        await context.uow.commit()
        async with audited_transaction(context.uow.database, _principal_trail(info)) as session:
            try:
                approved = await service.approve_erasure(
                    session=session, actor=context.principal, request_id=input.request_id
                )
            except CdpError as exc:
                # A refused approval changes nothing; its record goes with the request's work.
                session.sync_session.info.clear()
                context.uow.trail.record(action="erasure.approve", outcome=exc.code.value.lower())
                raise
        request = await execute_erasure(
            context.uow.database,
            context.vault.source,
            keystore=context.vault.store,
            request_id=approved.id or 0,
            trail=lambda: _principal_trail(info),
        )
        context.clear_loaders()
        context.vault.forget()
        return ErasureRequestType.of(request)

    @strawberry.mutation(
        description="Export everything cdp holds on one person (decrypted). Compliance role only."
    )
    async def export_profile(self, info: Info, input: ExportProfileInput) -> ProfileExport | None:
        purpose = check_purpose(input.purpose)
        # The person's rows from the replica while it keeps up; the record is the request's.
        uow = info.context.uow
        async with (
            profile_write(info, "export", input.profile_id) as (session, profile),
            uow.reading(within=session) as reads,
        ):
            document = await export.export_profile(
                session=reads, vault=info.context.vault, profile=profile, purpose=purpose
            )
        return ProfileExport(generated_at=utcnow(), document=document)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Let an erased person who comes back start a new profile. Compliance role only."
    )
    async def lift_suppression(
        self, info: Info, input: LiftSuppressionInput
    ) -> SuppressionLift | None:
        async with info.context.uow.atomic("suppression.lift") as session:
            # The same one identifier, normalised the same way, as the suppression lookup.
            kind, value = one_key(input.union_id, input.open_id, input.phone, input.profile_id)
            reason = check_purpose(input.reason, field="reason")
            lifted = await suppression.lift(
                session,
                kind=kind,
                bidx=suppression.hash_of(info.context.vault, kind, value),
                reason=reason,
            )
        return SuppressionLift(kind=kind, lifted=lifted)
