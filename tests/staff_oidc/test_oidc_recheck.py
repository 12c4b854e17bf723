"""The directory check of OIDC sessions against the real provider, on both databases: a
refresh grant with the sealed refresh token says a removed person is gone and a person whose
groups changed holds new roles; no refresh token, or one sealed for someone else, is gone;
a provider that is down raises OidcUnavailable."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.keys.source import KeyringSource
from cdp.roles import Role
from cdp.staff.directory import directory_answered
from cdp.staff.models import SessionEnd, StaffSession
from cdp.staff.oidc import OidcFailure, OidcUnavailable
from cdp.staff.oidc_routes import OidcSignIn, refresh_purpose
from cdp.staff.sealed import open_credential
from tests.conftest import TEST_KEYRING, ClientFactory, audited
from tests.support.oidc_provider import OidcProvider, StaffBrowser, oidc_settings

_people = itertools.count()


@pytest.fixture
def settings(database_url: str, oidc_provider: OidcProvider) -> Settings:
    return oidc_settings(database_url, oidc_provider.issuer)


@pytest.fixture
async def directory(settings: Settings, database: Database) -> AsyncIterator[OidcSignIn]:
    oidc = OidcSignIn(settings, database, KeyringSource.fixed(TEST_KEYRING))
    yield oidc
    await oidc.aclose()


async def signed_in(
    client_for: ClientFactory,
    provider: OidcProvider,
    database: Database,
    groups: list[str],
) -> StaffSession:
    """A new person in `groups`, signed in; their session's row."""
    sub = f"staff-recheck-{os.getpid()}-{next(_people)}"
    provider.set_account(sub, groups=groups)
    browser = StaffBrowser(client_for(None), provider)
    try:
        assert (await browser.sign_in(sub)).status_code == 303
    finally:
        await browser.aclose()
    async with database.transaction() as session:
        query = sa.select(StaffSession).where(col(StaffSession.directory_id) == sub)
        return (await session.execute(query)).scalar_one()


async def test_a_person_removed_from_the_directory_is_gone_and_their_session_ends(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    directory: OidcSignIn,
) -> None:
    row = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    roles, row.provider_grant = await directory.recheck(row)
    assert roles == (Role.SUPPORT,)
    oidc_provider.set_account(row.directory_id, removed=True)
    assert await directory.recheck(row) == (None, None)
    async with audited(database) as session:
        live = await session.get(StaffSession, row.id)
        assert live is not None
        ended = await directory_answered(session=session, row=live, roles=None, now=utcnow())
    assert ended is SessionEnd.DIRECTORY


async def test_a_person_whose_groups_changed_holds_the_new_roles(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    directory: OidcSignIn,
) -> None:
    row = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    oidc_provider.set_account(row.directory_id, groups=["cdp-support", "cdp-compliance"])
    roles, grant = await directory.recheck(row)
    assert roles == (Role.SUPPORT, Role.COMPLIANCE)
    async with audited(database) as session:
        live = await session.get(StaffSession, row.id)
        assert live is not None
        ended = await directory_answered(
            session=session, row=live, roles=roles, now=utcnow(), grant=grant
        )
        assert ended is None and live.roles == "support,compliance"
        assert live.provider_grant == grant
    # Out of the only group that gave the role in use: the session ends at this answer.
    oidc_provider.set_account(row.directory_id, groups=["cdp-compliance"])
    row.provider_grant = grant
    roles, grant = await directory.recheck(row)
    assert roles == (Role.COMPLIANCE,)
    async with audited(database) as session:
        live = await session.get(StaffSession, row.id)
        assert live is not None
        ended = await directory_answered(
            session=session, row=live, roles=roles, now=utcnow(), grant=grant
        )
    assert ended is SessionEnd.DIRECTORY


async def test_a_rotated_refresh_token_is_kept_sealed_and_the_spent_one_no_longer_works(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    directory: OidcSignIn,
) -> None:
    row = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    purpose = refresh_purpose(row.directory_id)
    assert row.provider_grant is not None
    first = open_credential(TEST_KEYRING, purpose, row.provider_grant)
    roles, grant = await directory.recheck(row)  # the test provider rotates on every use
    assert roles == (Role.SUPPORT,) and grant is not None
    second = open_credential(TEST_KEYRING, purpose, grant)
    assert second and first and second != first and second not in grant
    # Within this process the spent token is not presented again (the answer is shared)...
    assert await directory.recheck(row) == (roles, grant)
    # ...but another worker that does is what a thief would do: the provider revokes the grant.
    other = OidcSignIn(directory.settings, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        assert await other.recheck(row) == (None, None)
    finally:
        await other.aclose()


async def test_a_session_without_a_refresh_token_or_with_another_persons_is_gone(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    directory: OidcSignIn,
) -> None:
    mine = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    theirs = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    mine.provider_grant = None
    assert await directory.recheck(mine) == (None, None)
    # A refresh token copied from another person's row does not open for this one.
    mine.provider_grant = theirs.provider_grant
    assert await directory.recheck(mine) == (None, None)


async def test_a_provider_that_is_down_raises_oidc_unavailable(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    settings: Settings,
    unused_port: int,
) -> None:
    row = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    down = settings.model_copy(update={"staff_oidc_issuer": f"http://127.0.0.1:{unused_port}"})
    oidc = OidcSignIn(down, database, KeyringSource.fixed(TEST_KEYRING))
    try:
        with pytest.raises(OidcUnavailable) as raised:
            await oidc.recheck(row)
    finally:
        await oidc.aclose()
    assert raised.value.reason is OidcFailure.UNAVAILABLE and raised.value.retry_after > 0


async def test_concurrent_rechecks_of_one_session_spend_its_refresh_token_once(
    client_for: ClientFactory,
    oidc_provider: OidcProvider,
    database: Database,
    directory: OidcSignIn,
) -> None:
    # A console sends requests in parallel; with a provider that rotates refresh tokens, a
    # second refresh with the same token is a replay, and the provider revokes the grant.
    row = await signed_in(client_for, oidc_provider, database, ["cdp-support"])
    answers = await asyncio.gather(*(directory.recheck(row) for _ in range(3)))
    assert [roles for roles, _grant in answers] == [(Role.SUPPORT,)] * 3
    assert len({grant for _roles, grant in answers}) == 1
    # A request that loaded the row before the answer was stored gets the same answer.
    assert await directory.recheck(row) == answers[0]
