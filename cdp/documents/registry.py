"""The registry of a brand's trusted documents: each document's text under its id, the
operation it holds and the roles that may run it. The id is the SHA-256 of the exact text, so
one id names one text forever; only its roles change, by registering it again (audited).

Checking a document against the schema and the policy is the GraphQL layer's
(`cdp.graphql.documents`); this module stores what was checked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from cdp.audit import trail as audit
from cdp.columns import UtcDateTime
from cdp.db import utcnow
from cdp.errors import bad_input
from cdp.roles import Role

PREFIX = "sha256:"
DOCUMENT_ID = re.compile(r"sha256:[0-9a-f]{64}")
ID_LENGTH = len(PREFIX) + 64
NAME_MAX = 100
TEXT_MAX = 100_000

Registered = Literal["registered", "unchanged", "roles changed"]


def document_id(text: str) -> str:
    """`sha256:<hex>` of the document's exact text (UTF-8): what a client sends."""
    return PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def checked_id(value: object) -> str:
    """A `documentId` as a client sent it, or BAD_USER_INPUT when it is not one."""
    if not isinstance(value, str) or not DOCUMENT_ID.fullmatch(value):
        raise bad_input(
            "'documentId' must be 'sha256:' and 64 lowercase hexadecimal digits",
            field="documentId",
        )
    return value


class TrustedDocument(SQLModel, table=True):
    """One registered document. `roles` are role names (`cdp.roles.Role` values)."""

    __tablename__ = "trusted_documents"

    id: str = Field(primary_key=True, max_length=ID_LENGTH)
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    operation_name: str | None = Field(default=None, max_length=NAME_MAX)
    operation_type: str = Field(max_length=16, nullable=False)
    roles: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    registered_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False)
    )
    registered_by: str = Field(max_length=200, nullable=False)

    @property
    def role_set(self) -> frozenset[Role]:
        known = {r.value for r in Role}
        return frozenset(Role(name) for name in self.roles if name in known)


async def register(
    *,
    session: AsyncSession,
    text: str,
    operation_name: str | None,
    operation_type: str,
    roles: Iterable[Role],
) -> tuple[TrustedDocument, Registered]:
    """Store a checked document under its id for `roles` (audited). The same text again is
    `unchanged`, or `roles changed` when the roles differ: they become the ones given."""
    if not text.strip() or len(text) > TEXT_MAX:
        raise bad_input(f"a document must be 1-{TEXT_MAX} characters", field="document")
    names = sorted({Role(r).value for r in roles})
    if not names:
        raise bad_input("a document needs at least one role that may run it", field="role")
    key = document_id(text)
    row = await session.get(TrustedDocument, key)
    outcome: Registered
    if row is None:
        row = TrustedDocument(
            id=key,
            document=text,
            operation_name=operation_name,
            operation_type=operation_type,
            roles=names,
            registered_by=audit.trail_of(session).actor_subject,
        )
        session.add(row)
        outcome = "registered"
    elif sorted(row.roles) == names:
        return row, "unchanged"
    else:
        row.roles = names
        session.add(row)
        outcome = "roles changed"
    await session.flush()
    audit.record(
        session,
        action="document.register",
        detail={"document": key, "operation": operation_name, "roles": names, "change": outcome},
    )
    return row, outcome


async def find(session: AsyncSession, key: str) -> TrustedDocument | None:
    return await session.get(TrustedDocument, key)


async def all_documents(session: AsyncSession) -> Sequence[TrustedDocument]:
    query = sa.select(TrustedDocument).order_by(col(TrustedDocument.registered_at))
    return (await session.scalars(query)).all()
