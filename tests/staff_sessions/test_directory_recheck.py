"""A staff session asks its directory again when due, on both databases: it goes on with the
roles the directory gives now, ends when the person left or lost the role in use, and is
answered 503 with Retry-After (neither served unchecked nor ended) while the directory is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.app import create_app
from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import DirectoryPerson, OpenedSession, open_session
from cdp.unit_of_work import audited_transaction
from tests.conftest import TEST_KEYRING

Answer = tuple[tuple[Role, ...] | None, str | None]


class ScriptedDirectory:
    """A directory check whose next answer the test sets (or that is down)."""

    def __init__(self) -> None:
        self.answer: Answer | Exception = ((Role.SUPPORT,), None)
        self.asked: list[str] = []
        self.delay = 0.0

    async def recheck(self, row: StaffSession) -> Answer:
        self.asked.append(row.directory_id)
        await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def directory() -> ScriptedDirectory:
    return ScriptedDirectory()


@pytest.fixture
async def client(
    settings: Settings, database: Database, keystore: KeyStore, directory: ScriptedDirectory
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    app.state.credentials.add_check(StaffProvider.WECOM.value, directory)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
        yield client


async def signed_in(database: Database, settings: Settings, *roles: Role) -> OpenedSession:
    person = DirectoryPerson(StaffProvider.WECOM, "zhouli", roles)
    trail = AuditTrail(
        key=TEST_KEYRING.audit_key, actor_subject=person.subject, actor_role=STAFF_SIGN_IN_ROLE
    )
    async with audited_transaction(database, trail) as session:
        return await open_session(session=session, settings=settings, person=person)


async def due(database: Database, settings: Settings, opened: OpenedSession) -> None:
    """Make the session's last directory answer older than the recheck interval."""
    long_ago = utcnow() - timedelta(seconds=settings.staff_directory_recheck_seconds + 1)
    async with database.transaction() as session:
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == opened.public_id)
            .values(checked_at=long_ago)
        )


async def ask(client: httpx.AsyncClient, opened: OpenedSession) -> httpx.Response:
    client.cookies.set("cdp_staff", opened.token)
    return await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={CSRF_HEADER: opened.csrf_token},
    )


async def test_a_session_is_not_rechecked_before_it_is_due(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    directory: ScriptedDirectory,
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    assert (await ask(client, opened)).status_code == 200
    assert directory.asked == []


async def test_a_due_session_goes_on_with_the_roles_the_directory_gives_now(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    directory: ScriptedDirectory,
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    await due(database, settings, opened)
    directory.answer = ((Role.SUPPORT, Role.COMPLIANCE), None)
    assert (await ask(client, opened)).status_code == 200
    assert (await ask(client, opened)).status_code == 200
    assert directory.asked == ["zhouli"]  # once: the answer is good for another interval
    async with database.transaction() as session:
        row = (
            await session.execute(
                sa.select(StaffSession).where(col(StaffSession.public_id) == opened.public_id)
            )
        ).scalar_one()
    assert row.roles == "support,compliance" and row.role == "support"


@pytest.mark.parametrize("answer", [None, (Role.ANALYST,)], ids=["gone", "role lost"])
async def test_a_due_session_ends_when_the_directory_says_no(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    directory: ScriptedDirectory,
    answer: tuple[Role, ...] | None,
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    await due(database, settings, opened)
    directory.answer = (answer, None)
    for _ in range(2):
        response = await ask(client, opened)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["reason"] == "DIRECTORY"
    assert directory.asked == ["zhouli"]


async def test_a_directory_that_is_down_gets_503_and_the_session_is_kept(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    directory: ScriptedDirectory,
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    await due(database, settings, opened)
    directory.answer = ConnectionError("directory down")
    response = await ask(client, opened)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["errors"][0]["extensions"]["reason"] == "DIRECTORY_UNAVAILABLE"
    directory.answer = ((Role.SUPPORT,), None)
    assert (await ask(client, opened)).status_code == 200
    # The failed recheck gave its claim back: the next request asked again.
    assert directory.asked == ["zhouli", "zhouli"]


async def test_concurrent_requests_of_a_due_session_ask_the_directory_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    directory: ScriptedDirectory,
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    await due(database, settings, opened)
    directory.delay = 0.3
    answers = await asyncio.gather(*(ask(client, opened) for _ in range(4)))
    assert [response.status_code for response in answers] == [200] * 4
    # One request claimed the recheck (a provider's rotating refresh token is spent once);
    # the others went on under the previous answer.
    assert directory.asked == ["zhouli"]
