"""Units of work: one transaction, one audit trail, committed once.

`UnitOfWork` serves a GraphQL request (its resolvers run concurrently, so the one session is
handed out under a lock); `audited_transaction` serves CLI commands and direct service calls.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cdp.audit.trail import OPERATOR_ROLE, AuditTrail, attach
from cdp.crypto import Keyring
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.replica import standby


def operator_trail(keyring: Keyring, subject: str | None = None) -> AuditTrail:
    """The trail of someone running `cdp` on a server: recorded as an operator."""
    return AuditTrail(
        key=keyring.audit_key,
        actor_subject=subject or f"cli:{getpass.getuser()}",
        actor_role=OPERATOR_ROLE,
    )


@asynccontextmanager
async def audited_transaction(database: Database, trail: AuditTrail) -> AsyncIterator[AsyncSession]:
    """One transaction whose audit records are written with it, or not at all."""
    async with database.sessions() as session:
        attach(session, trail)
        async with session.begin():
            yield session


class UnitOfWork:
    """A request's single session, serialised: GraphQL resolves sibling fields concurrently,
    and one AsyncSession must never run two statements at once."""

    def __init__(self, database: Database, trail: AuditTrail) -> None:
        self.database = database
        self.trail = trail
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    def _open(self) -> AsyncSession:
        if self._session is None:
            self._session = self.database.sessions()
            attach(self._session, self.trail)
        return self._session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            yield self._open()

    @asynccontextmanager
    async def reading(
        self, *, within: AsyncSession | None = None, settled: datetime | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session for reads that tolerate a little delay (analytics, audience counts,
        exports): the replica's while it keeps up (`cdp.replica`), else the request's own
        (`within` when the caller already holds it). Reads of data up to `settled` go to the
        replica only once that is further back than the lag it may have. Audit records made
        on either join the request's trail and are written with its commit, on the primary."""
        lag = timedelta(seconds=self.database.settings.read_max_lag_seconds)
        if settled is None or utcnow() - settled > lag:
            async with standby(self.database) as replica:
                if replica is not None:
                    attach(replica, self.trail)
                    yield replica
                    return
        if within is not None:
            yield within
            return
        async with self.session() as session:
            yield session

    @asynccontextmanager
    async def atomic(self, action: str) -> AsyncIterator[AsyncSession]:
        """A savepoint for one mutation: its writes land whole or not at all. A refused
        attempt is audited as `action` with the error code as its outcome."""
        async with self.session() as session:
            mark = self.trail.mark()
            self.trail.target = None
            try:
                async with session.begin_nested():
                    yield session
            except BaseException as exc:
                self.trail.discard_after(mark)
                outcome = exc.code.value.lower() if isinstance(exc, CdpError) else "error"
                self.trail.record(action=action, outcome=outcome, profile_id=self.trail.target)
                raise

    async def commit(self) -> None:
        """Commit the request's transaction; the audit records go with it (or it fails)."""
        async with self._lock:
            if self._session is None and not self.trail.pending:
                return
            session = self._open()
            if not session.in_transaction():
                await session.begin()
            await session.commit()

    async def close(self) -> None:
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None
