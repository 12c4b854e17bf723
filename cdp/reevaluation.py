"""The queue of people whose audience memberships may have changed: a write to their events,
orders, points, consents, tags, apps, follows or birthday notes them (`note`), and the notes
land in `audience_queue` in the same transaction, just before it commits. The audiences'
updater (cdp.audiences.updates) re-evaluates them shortly after.

Below every domain that notes a person, so none of them depends on the audiences above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import Field, SQLModel

from cdp.columns import profile_fk, timestamp_field
from cdp.db import utcnow

_NOTED = "cdp.reevaluate"
_COMMITTED = "cdp.reevaluate.committed"
# Called after a commit that queued someone: the updaters of this process wake at once.
_listeners: list[Callable[[], None]] = []


class QueuedProfile(SQLModel, table=True):
    """A person to re-evaluate; one row per noting transaction (the updater reads each once)."""

    __tablename__ = "audience_queue"

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    )
    profile_id: int = Field(sa_column=profile_fk())
    queued_at: datetime = timestamp_field()


QUEUE: sa.Table = QueuedProfile.__table__  # type: ignore[attr-defined]


def note(session: AsyncSession | Session, profile_ids: Iterable[int | None]) -> None:
    """Queue these people for re-evaluation when the transaction commits (no statement now)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    noted: set[int] = sync.info.setdefault(_NOTED, set())
    noted.update(pid for pid in profile_ids if pid is not None)


def on_queued(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` after each commit that queued someone; returns how to stop."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


# Only the profiles still there: a merge or an erasure may have removed one since its note.
_PROFILES = sa.table("profiles", sa.column("id"))


@event.listens_for(Session, "before_commit")
def _write_queue(session: Session) -> None:
    noted: set[int] | None = session.info.pop(_NOTED, None)
    if not noted:
        return
    now = sa.literal(utcnow(), QUEUE.c.queued_at.type)
    session.execute(
        sa.insert(QUEUE).from_select(
            ["profile_id", "queued_at"],
            sa.select(_PROFILES.c.id, now).where(_PROFILES.c.id.in_(sorted(noted))),
        )
    )
    session.info[_COMMITTED] = True


@event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    if session.info.pop(_COMMITTED, False):
        for listener in list(_listeners):
            listener()


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction, not a savepoint: a rollback forgets
        session.info.pop(_NOTED, None)
        session.info.pop(_COMMITTED, None)
