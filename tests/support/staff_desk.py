"""Staff sessions for tests of what a session does: one opened as a sign-in opens it, a
client carrying its cookie (and its anti-CSRF header, or a forged one), the audit records
of a kind, and an app for other settings (production, configured sign-ins)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from cdp.app import create_app
from cdp.audit.models import AuditEvent
from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import DirectoryPerson, OpenedSession, open_session
from cdp.unit_of_work import audited_transaction
from tests.conftest import TEST_KEYRING, ClientFactory

COOKIE = "cdp_staff"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def open_staff_session(
    database: Database,
    settings: Settings,
    *roles: Role,
    who: str = "zhangsan",
    provider: StaffProvider = StaffProvider.WECOM,
) -> OpenedSession:
    person = DirectoryPerson(provider, who, roles)
    trail = AuditTrail(
        key=TEST_KEYRING.audit_key, actor_subject=person.subject, actor_role=STAFF_SIGN_IN_ROLE
    )
    async with audited_transaction(database, trail) as session:
        return await open_session(session=session, settings=settings, person=person)


def with_cookie(
    client_for: ClientFactory, opened: OpenedSession, *, csrf: str | None = "right"
) -> httpx.AsyncClient:
    """A client carrying the session's cookie and, unless `csrf` is None, its anti-CSRF
    header (`"right"`) or the value given (a forged one)."""
    client = client_for(None)
    client.cookies.set(COOKIE, opened.token)
    if csrf is not None:
        client.headers[CSRF_HEADER] = opened.csrf_token if csrf == "right" else csrf
    return client


async def session_row(database: Database, public_id: str) -> StaffSession:
    async with database.transaction() as session:
        query = sa.select(StaffSession).where(col(StaffSession.public_id) == public_id)
        return (await session.execute(query)).scalar_one()


async def records_of(database: Database, action: str) -> list[AuditEvent]:
    async with database.transaction() as session:
        query = (
            sa.select(AuditEvent)
            .where(col(AuditEvent.action) == action)
            .order_by(col(AuditEvent.seq))
        )
        return list((await session.execute(query)).scalars())


@asynccontextmanager
async def app_client(
    settings: Settings, database: Database, keystore: KeyStore, **headers: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built for `settings` (production, say), over the test's database."""
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cdp.test", headers=headers
    ) as client:
        yield client


class Scripts(HTMLParser):
    """Every script element, inline event handler and javascript: URL of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = True
            if named.get("src"):
                self.external.append(named["src"] or "")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.inline.append(f"{tag} {name}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:40])
