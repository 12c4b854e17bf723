"""`auditLogVerification` for compliance: `cdp audit verify` from the console, audited too."""

from __future__ import annotations

from datetime import datetime

import strawberry

from cdp.audit.tree import latest_head
from cdp.audit.verify import Verdict, verify_chain
from cdp.db import utcnow
from cdp.graphql.context import Info
from cdp.graphql.objects import object_type


@object_type(
    "AuditVerification",
    description="The outcome of checking the audit log end to end, as `cdp audit verify` does.",
)
class AuditVerification:
    intact: bool = strawberry.field(
        description="True when no record was modified, deleted, inserted or reordered."
    )
    checked: int = strawberry.field(description="How many records were checked.")
    head_seq: int = strawberry.field(
        description="The seq of the last record checked (0: the log is empty)."
    )
    broken_at_seq: int | None = strawberry.field(
        description="The seq of the first bad record; null when intact."
    )
    problem: str | None = strawberry.field(
        description="What is wrong with that record, in words; null when intact."
    )
    checked_at: datetime = strawberry.field(description="When the check ran (UTC).")
    unsealed: int = strawberry.field(
        description="Committed records the sealer has not linked yet (it does within a "
        "second or two): reported, not checked until sealed."
    )
    tree_size: int = strawberry.field(
        description="How many records the latest signed tree head holds (0: none yet)."
    )

    @classmethod
    def of(cls, verdict: Verdict, tree_size: int) -> AuditVerification:
        problem = verdict.problem
        return cls(
            unsealed=verdict.unsealed,
            tree_size=tree_size,
            intact=verdict.intact,
            checked=verdict.checked,
            head_seq=verdict.head_seq,
            broken_at_seq=None if problem is None else problem.seq,
            problem=None if problem is None else problem.reason,
            checked_at=utcnow(),
        )


async def _verdict(info: Info) -> tuple[Verdict, int]:
    """The one place the console's check reaches the log's verifier: it reads the committed
    records in transactions of its own (the request's records join the log after it)."""
    context = info.context
    verdict = await verify_chain(context.uow.database, context.vault.keyring.audit_key)
    async with context.uow.database.transaction() as session:
        head = await latest_head(session)
    return verdict, head.size if head else 0


@strawberry.type
class AuditVerificationQueries:
    @strawberry.field(
        description="Check the audit log's chain now and say where it is broken, if it is; "
        "the check is audited. Compliance role only."
    )
    async def audit_log_verification(self, info: Info) -> AuditVerification | None:
        verdict, tree_size = await _verdict(info)
        info.context.uow.trail.record(
            action="audit.verify",
            outcome="ok" if verdict.intact else "broken",
            detail={
                "checked": verdict.checked,
                "headSeq": verdict.head_seq,
                "problem": str(verdict.problem or ""),
                "unsealed": verdict.unsealed,
            },
        )
        return AuditVerification.of(verdict, tree_size)
