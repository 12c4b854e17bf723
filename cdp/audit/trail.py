"""The audit trail of one unit of work: records gathered while it runs, written in the same
transaction just before it commits (a session event), or the commit fails.

Who acts is bound once, when the trail is made (`AuditTrail.of` the authenticated principal,
or `cdp.unit_of_work.operator_trail` for the CLI); `continue_as` is the one switch. The profile
a mutation works on is named by `set_target`. Services call `record(session, ...)`; the GraphQL
policy mechanism calls `AuditTrail.read`. `record` refuses to run without a trail attached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from cdp.audit.actions import AuditAction
from cdp.audit.models import AuditEvent
from cdp.auth import Principal
from cdp.db import utcnow
from cdp.sqlite_writers import begin_appending

_INFO_KEY = "cdp.audit_trail"
AUDIT_SEQUENCE = "audit_seq"  # PostgreSQL: migration 0017_audit_lock_free
OPERATOR_ROLE = "operator"
STAFF_SIGN_IN_ROLE = "staff"  # a staff sign-in, before the person chooses a role
PURPOSE_MAX = 200


@dataclass
class _ProfileAccess:
    fields: dict[str, str] = field(default_factory=dict)  # field -> full | masked | denied
    purposes: list[str] = field(default_factory=list)
    looked_up: bool = False

    @property
    def purpose(self) -> str | None:
        """Every purpose stated for this profile in the request (usually one)."""
        return " | ".join(self.purposes)[:PURPOSE_MAX] if self.purposes else None


class AuditTrail:
    """Pending audit records for one actor and request.

    Made with the actor as the records name it: a request's is `AuditTrail.of` its principal;
    a role outside `Role` (an operator, a refused token's claim) is given as a string.
    """

    def __init__(
        self, *, key: bytes, actor_subject: str, actor_role: str, request_id: str | None = None
    ) -> None:
        self.key = key
        self._actor = (actor_subject, actor_role)
        self.request_id = request_id
        self._records: list[dict[str, Any]] = []
        self._access: dict[int, _ProfileAccess] = {}
        self.target: int | None = None  # the profile the current mutation works on: set_target

    @classmethod
    def of(cls, principal: Principal, *, key: bytes, request_id: str | None = None) -> AuditTrail:
        """The trail of a unit of work done by an authenticated principal."""
        return cls(
            key=key,
            actor_subject=principal.subject,
            actor_role=principal.role.value,
            request_id=request_id,
        )

    @property
    def actor_subject(self) -> str:
        return self._actor[0]

    @property
    def actor_role(self) -> str:
        return self._actor[1]

    def continue_as(self, principal: Principal) -> None:
        """The one switch of actor: a WeChat sign-in starts as the app and continues as the
        customer it signed in, who is then the actor of every record of the trail."""
        self._actor = (principal.subject, principal.role.value)

    # --- gathering -------------------------------------------------------------------------

    def read(self, profile_id: int, field_name: str, access: str) -> None:
        """A personal field of a profile was resolved: `full`, `masked` or `denied`."""
        seen = self._access.setdefault(profile_id, _ProfileAccess()).fields
        if seen.get(field_name) != "denied":
            seen[field_name] = access

    def lookup(self, profile_id: int, purpose: str | None) -> None:
        entry = self._access.setdefault(profile_id, _ProfileAccess())
        entry.looked_up = True
        if purpose and purpose not in entry.purposes:
            entry.purposes.append(purpose)

    def record(
        self,
        *,
        action: str,
        profile_id: int | None = None,
        outcome: str = "ok",
        fields: list[dict[str, str]] | None = None,
        purpose: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self._records.append(
            {
                "action": AuditAction(action).value,  # ValueError: not an action of the log
                "profile_id": profile_id,
                "outcome": outcome,
                "fields": fields or [],
                "purpose": purpose,
                "detail": detail or {},
            }
        )

    def mark(self) -> int:
        return len(self._records)

    def discard_after(self, mark: int) -> None:
        """Forget records of work that was rolled back (a failed mutation's savepoint)."""
        del self._records[mark:]

    def forget(self) -> None:
        """Drop every record and read gathered so far (their work was rolled back whole)."""
        self._records.clear()
        self._access.clear()
        self.target = None

    @property
    def pending(self) -> bool:
        return bool(self._records or self._access)

    def take(self) -> list[dict[str, Any]]:
        """The records to write, reads folded into one record per profile; then empty."""
        rows = list(self._records)
        for profile_id, access in self._access.items():
            fields = [{"field": f, "access": a} for f, a in sorted(access.fields.items())]
            denied = any(a == "denied" for a in access.fields.values())
            rows.append(
                {
                    "action": "pii.read" if fields else "profile.lookup",
                    "profile_id": profile_id,
                    "outcome": "forbidden" if denied else "ok",
                    "fields": fields,
                    "purpose": access.purpose,
                    "detail": {},
                }
            )
        self._records.clear()
        self._access.clear()
        return rows


def attach(session: AsyncSession | Session, trail: AuditTrail) -> None:
    target = session.sync_session if isinstance(session, AsyncSession) else session
    target.info[_INFO_KEY] = trail


def trail_of(session: AsyncSession | Session) -> AuditTrail:
    target = session.sync_session if isinstance(session, AsyncSession) else session
    trail = target.info.get(_INFO_KEY)
    if trail is None:
        raise RuntimeError("this transaction has no audit trail attached")
    return trail  # type: ignore[no-any-return]


def record(session: AsyncSession, **values: Any) -> None:
    """Add a record to the trail of the session's unit of work (written at commit)."""
    trail_of(session).record(**values)


def set_target(session: AsyncSession | Session, profile_id: int | None) -> None:
    """Name the profile the current mutation works on: a refusal is then recorded against it.

    The one way a target is named; the unit of work clears it when the next mutation starts.
    """
    trail_of(session).target = profile_id


def append_records(session: Session, trail: AuditTrail) -> None:
    """Write the trail's records (sync: runs in the commit). No lock is taken: PostgreSQL
    numbers them from a sequence as they are inserted, SQLite has one writer at a time (a
    read's transaction becomes one here: `begin_appending`); the sealer links and seals them
    once committed (`cdp.audit.tree`)."""
    rows = trail.take()
    if not rows:
        return
    now = utcnow()
    values = [
        {
            "occurred_at": now,
            "request_id": trail.request_id,
            "actor_subject": trail.actor_subject,
            "actor_role": trail.actor_role,
            **row,
        }
        for row in rows
    ]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.insert(AuditEvent).values(seq=sa.func.nextval(AUDIT_SEQUENCE)), values)
        return
    begin_appending(session)  # a read's records: under the write lock, numbered after it
    last = session.scalar(sa.select(sa.func.max(col(AuditEvent.seq)))) or 0
    for offset, row in enumerate(values, start=1):
        row["seq"] = last + offset
    session.execute(sa.insert(AuditEvent), values)


@event.listens_for(Session, "before_commit")
def _write_trail(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint is released, not the transaction committed
    trail = session.info.get(_INFO_KEY)
    if trail is not None and trail.pending:
        append_records(session, trail)
