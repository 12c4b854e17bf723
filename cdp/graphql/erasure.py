"""Compliance in GraphQL: erasure requests, their approval and execution, suppression lifts,
and the export of one person's data."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry
from strawberry.scalars import JSON

from cdp.audit.trail import AuditTrail
from cdp.db import utcnow
from cdp.erasure import export, service
from cdp.erasure.execution import execute_erasure
from cdp.errors import CdpError, bad_input
from cdp.graphql.context import Info
from cdp.graphql.lookups import profile_by_id
from cdp.graphql.pages import DEFAULT_FIRST, PageInfo, check_first, decode_int, encode_cursor
from cdp.graphql.profiles import check_purpose
from cdp.profiles.values import normalize_phone
from cdp.suppression import service as suppression
from cdp.suppression.models import ErasureMode, ErasureRequest, ErasureStatus, SuppressionKind
from cdp.unit_of_work import audited_transaction


@strawberry.type(name="ErasureRequest")
class ErasureRequestType:
    row: strawberry.Private[ErasureRequest]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row.public_id)

    @strawberry.field(description="The person's internal surrogate id (as in the audit log).")
    def profile_surrogate_id(self) -> int:
        return self.row.profile_id

    @strawberry.field
    def mode(self) -> ErasureMode:
        return self.row.mode

    @strawberry.field
    def status(self) -> ErasureStatus:
        return self.row.status

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def requested_by(self) -> str:
        return self.row.requested_by

    @strawberry.field
    def requested_at(self) -> datetime:
        return self.row.requested_at

    @strawberry.field(description="When the law expects it done.")
    def due_at(self) -> datetime:
        return self.row.due_at

    @strawberry.field
    def approved_by(self) -> str | None:
        return self.row.approved_by

    @strawberry.field
    def approved_at(self) -> datetime | None:
        return self.row.approved_at

    @strawberry.field
    def completed_at(self) -> datetime | None:
        return self.row.completed_at

    @strawberry.field(
        description="The last step done: collect, suppress, shred, purge, verify, complete."
    )
    def step(self) -> str:
        return self.row.step

    @strawberry.field(description="What each step did: counts per table, the verification scan.")
    def receipt(self) -> JSON:
        return self.row.receipt  # type: ignore[return-value]


@strawberry.type
class ErasureRequestPage:
    items: list[ErasureRequestType]
    page_info: PageInfo


@strawberry.type
class ProfileExport:
    generated_at: datetime
    document: JSON


@strawberry.type
class SuppressionLift:
    kind: SuppressionKind
    lifted: bool


@strawberry.input
class RequestErasureInput:
    profile_id: strawberry.ID
    mode: ErasureMode
    reason: str = strawberry.field(description="Why, without personal data (e.g. a ticket number).")


@strawberry.input
class ApproveErasureInput:
    request_id: strawberry.ID


@strawberry.input
class ExportProfileInput:
    profile_id: strawberry.ID
    purpose: str


@strawberry.input(description="Exactly one identifier of the returning person, and why.")
class LiftSuppressionInput:
    reason: str
    union_id: str | None = None
    open_id: str | None = None
    phone: str | None = None
    profile_id: strawberry.ID | None = None


def _principal_trail(info: Info) -> AuditTrail:
    return AuditTrail.of(
        info.context.principal,
        key=info.context.vault.keyring.audit_key,
        request_id=info.context.request_id,
    )


@strawberry.type
class ErasureQueries:
    @strawberry.field(description="Erasure requests, newest first.")
    async def erasure_requests(
        self,
        info: Info,
        status: ErasureStatus | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> ErasureRequestPage | None:
        check_first(first)
        before = decode_int(info, after, "erasures")
        async with info.context.uow.session() as session:
            rows = await service.list_requests(
                session=session,
                status=status,
                limit=first + 1,
                before=before,
            )
        page = list(rows[:first])
        info.context.uow.trail.record(action="erasure.list", detail={"returned": len(page)})
        return ErasureRequestPage(
            items=[ErasureRequestType(row=row) for row in page],
            page_info=PageInfo(
                end_cursor=encode_cursor(info, "erasures", page[-1].id) if page else None,
                has_next_page=len(rows) > first,
            ),
        )


@strawberry.type
class ErasureMutations:
    @strawberry.mutation(description="Open an erasure request; another officer approves it.")
    async def request_erasure(
        self, info: Info, input: RequestErasureInput
    ) -> ErasureRequestType | None:
        async with info.context.uow.atomic("erasure.request") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            request = await service.request_erasure(
                session=session,
                actor=info.context.principal,
                profile=profile,
                mode=input.mode,
                reason=input.reason,
                due_in=timedelta(days=info.context.settings.erasure_due_days),
            )
        return ErasureRequestType(row=request)

    @strawberry.mutation(description="Approve (as a different officer) and execute an erasure.")
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
        return ErasureRequestType(row=request)

    @strawberry.mutation(description="Export everything cdp holds on one person (decrypted).")
    async def export_profile(self, info: Info, input: ExportProfileInput) -> ProfileExport | None:
        purpose = check_purpose(input.purpose)
        async with info.context.uow.atomic("export") as session:
            profile = await profile_by_id(session, info.context.vault, input.profile_id)
            document = await export.export_profile(
                session=session,
                vault=info.context.vault,
                profile=profile,
                purpose=purpose,
            )
        return ProfileExport(generated_at=utcnow(), document=document)  # type: ignore[arg-type]

    @strawberry.mutation(description="Let an erased person who comes back start a new profile.")
    async def lift_suppression(
        self, info: Info, input: LiftSuppressionInput
    ) -> SuppressionLift | None:
        given = [
            (k, v)
            for k, v in (
                (SuppressionKind.UNION_ID, input.union_id),
                (SuppressionKind.OPEN_ID, input.open_id),
                (SuppressionKind.PHONE, input.phone),
                (SuppressionKind.PROFILE, input.profile_id),
            )
            if v is not None
        ]
        async with info.context.uow.atomic("suppression.lift") as session:
            if len(given) != 1:
                raise bad_input("give exactly one of unionId, openId, phone, profileId")
            reason = check_purpose(input.reason, field="reason")
            kind, value = given[0]
            value = normalize_phone(value) if kind is SuppressionKind.PHONE else value.strip()
            lifted = await suppression.lift(
                session,
                kind=kind,
                bidx=suppression.hash_of(info.context.vault, kind, value),
                reason=reason,
            )
        return SuppressionLift(kind=kind, lifted=lifted)
