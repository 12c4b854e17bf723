"""The rules of staff identity below any route, on both databases: the role map, a session's
lifetime and idleness, the directory's answer, revocation, sign-in attempts that work once in
the browser that began them, and sealed provider credentials."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.audit.trail import OPERATOR_ROLE, AuditTrail
from cdp.auth import Role
from cdp.config import ConfigError, Settings, load_settings
from cdp.crypto import Keyring
from cdp.db import Database, utcnow
from cdp.errors import CdpError, ErrorCode
from cdp.roles import DIRECTORY_ROLES, RoleMap
from cdp.staff.attempts import ATTEMPT_TTL, begin_attempt, take_attempt
from cdp.staff.directory import directory_answered, recheck_due
from cdp.staff.models import SessionEnd, SignInAttempt, StaffProvider, StaffSession
from cdp.staff.sealed import open_credential, seal_credential
from cdp.staff.sessions import (
    DirectoryPerson,
    choose_role,
    find_session,
    live_sessions,
    open_session,
    revoke,
    why_ended,
)
from cdp.unit_of_work import audited_transaction
from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING

ROLE_MAP = {
    "oidc_groups": {"cdp-support": ["support"], "cdp-privacy": ["compliance", "support"]},
    "wecom_departments": {"12": ["analyst"]},
    "wecom_tags": {"合规": ["compliance"], "市场部": ["marketer"]},
}


def trail() -> AuditTrail:
    return AuditTrail(key=TEST_KEYRING.audit_key, actor_subject="t", actor_role=OPERATOR_ROLE)


def person(*roles: Role, who: str = "lisi") -> DirectoryPerson:
    return DirectoryPerson(StaffProvider.WECOM, who, roles)


def test_the_role_map_gives_every_role_of_every_membership_once_in_role_order() -> None:
    role_map = RoleMap.model_validate(ROLE_MAP)
    assert role_map.roles_for(groups=["cdp-privacy", "cdp-support"]) == (
        Role.SUPPORT,
        Role.COMPLIANCE,
    )
    assert role_map.roles_for(departments=[12, 99], tags=["合规"]) == (
        Role.ANALYST,
        Role.COMPLIANCE,
    )
    assert role_map.roles_for(groups=["someone-else"], departments=[1], tags=["x"]) == ()


def test_a_directory_grants_the_marketer_role_like_any_staff_role() -> None:
    role_map = RoleMap.model_validate(ROLE_MAP)
    assert role_map.roles_for(tags=["市场部"], departments=[12]) == (Role.ANALYST, Role.MARKETER)
    assert Role.MARKETER in DIRECTORY_ROLES


@pytest.mark.parametrize(
    ("role_map", "complaint"),
    [
        ({"oidc_groups": {"admins": ["customer"]}}, "a directory grants only"),
        ({"wecom_tags": {"ops": ["service"]}}, "a directory grants only"),
        ({"wecom_departments": {"sales": ["support"]}}, "not a department id"),
        ({"oidc_groups": {"g": ["superuser"]}}, "CDP_STAFF_ROLE_MAP"),
        ({"okta_groups": {}}, "CDP_STAFF_ROLE_MAP"),
    ],
)
def test_a_role_map_that_grants_what_no_directory_may_is_refused_in_one_line(
    role_map: dict[str, object], complaint: str
) -> None:
    import json

    with pytest.raises(ConfigError) as refused:
        load_settings({"CDP_STAFF_ROLE_MAP": json.dumps(role_map)})
    assert complaint in str(refused.value) and "\n" not in str(refused.value)


def test_oidc_settings_go_together_and_production_needs_https_and_a_redirect_base() -> None:
    with pytest.raises(ConfigError, match="go together"):
        load_settings({"CDP_STAFF_OIDC_ISSUER": "https://id.example.com"})
    oidc = {
        "CDP_STAFF_OIDC_ISSUER": "https://id.example.com",
        "CDP_STAFF_OIDC_CLIENT_ID": "cdp",
        "CDP_STAFF_OIDC_CLIENT_SECRET": "s3cret",
        "CDP_ENV": "production",
        "CDP_JWT_SECRET": TEST_JWT_SECRET,
    }
    with pytest.raises(ConfigError, match="CDP_STAFF_REDIRECT_BASE_URL"):
        load_settings(oidc)
    with pytest.raises(ConfigError, match="https"):
        load_settings(
            {
                **oidc,
                "CDP_STAFF_OIDC_ISSUER": "http://id.example.com",
                "CDP_STAFF_REDIRECT_BASE_URL": "https://cdp.example.com",
            }
        )
    fit = load_settings({**oidc, "CDP_STAFF_REDIRECT_BASE_URL": "https://cdp.example.com"})
    assert fit.has_oidc


async def test_a_person_the_directory_gives_no_role_gets_no_session(
    database: Database, settings: Settings
) -> None:
    with pytest.raises(CdpError) as refused:
        async with audited_transaction(database, trail()) as session:
            await open_session(session=session, settings=settings, person=person())
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert refused.value.extensions()["reason"] == "UNMAPPED"
    async with database.transaction() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(StaffSession))) == 0


async def test_a_session_is_stored_by_the_hash_of_its_secret_and_its_sign_in_is_audited(
    database: Database, settings: Settings
) -> None:
    async with audited_transaction(database, trail()) as session:
        opened = await open_session(session=session, settings=settings, person=person(Role.SUPPORT))
    async with database.transaction() as session:
        row = await find_session(session=session, token=opened.token)
        assert row is not None and row.role == "support"
        stored = " ".join(str(v) for v in (await session.execute(sa.select(StaffSession))).one())
        assert opened.token not in stored and opened.csrf_token not in stored
        [record] = (
            await session.execute(
                sa.select(AuditEvent).where(col(AuditEvent.action) == "staff.sign_in")
            )
        ).scalars()
        assert record.detail["session"] == opened.public_id
        assert opened.token not in str(record.detail)
        assert await find_session(session=session, token=opened.token + "x") is None


async def test_a_session_ends_when_idle_and_at_its_lifetime_whatever_its_use(
    database: Database, settings: Settings
) -> None:
    async with audited_transaction(database, trail()) as session:
        opened = await open_session(session=session, settings=settings, person=person(Role.SUPPORT))
        row = await find_session(session=session, token=opened.token)
    assert row is not None
    now = utcnow()
    assert why_ended(row, settings, now) is None
    idle = timedelta(seconds=settings.staff_idle_timeout_seconds)
    assert why_ended(row, settings, now + idle) is SessionEnd.IDLE
    row.last_seen_at = now + timedelta(hours=9)  # kept busy all day
    lifetime = timedelta(seconds=settings.staff_session_lifetime_seconds)
    assert why_ended(row, settings, now + lifetime) is SessionEnd.EXPIRED
    recheck = timedelta(seconds=settings.staff_directory_recheck_seconds)
    assert not recheck_due(row, settings, now) and recheck_due(row, settings, now + recheck)


async def test_the_directory_ends_a_session_whose_person_left_or_lost_the_role_in_use(
    database: Database, settings: Settings
) -> None:
    async with audited_transaction(database, trail()) as session:
        kept = await open_session(
            session=session, settings=settings, person=person(Role.SUPPORT, who="a")
        )
        lost = await open_session(
            session=session, settings=settings, person=person(Role.SUPPORT, who="b")
        )
        gone = await open_session(
            session=session, settings=settings, person=person(Role.SUPPORT, who="c")
        )
    answers = {
        kept.token: (Role.SUPPORT, Role.COMPLIANCE),
        lost.token: (Role.ANALYST,),
        gone.token: None,
    }
    now = utcnow()
    async with audited_transaction(database, trail()) as session:
        for token, roles in answers.items():
            row = await find_session(session=session, token=token)
            assert row is not None
            await directory_answered(session=session, row=row, roles=roles, now=now)
    async with database.transaction() as session:
        rows = {token: await find_session(session=session, token=token) for token in answers}
    assert rows[kept.token] and rows[kept.token].roles == "support,compliance"
    assert rows[kept.token].ended_reason is None
    for token in (lost.token, gone.token):
        assert rows[token] and rows[token].ended_reason is SessionEnd.DIRECTORY


async def test_a_role_is_chosen_once_and_only_among_those_held(
    database: Database, settings: Settings
) -> None:
    async with audited_transaction(database, trail()) as session:
        opened = await open_session(
            session=session, settings=settings, person=person(Role.SUPPORT, Role.COMPLIANCE)
        )
        row = await find_session(session=session, token=opened.token)
        assert row is not None
        with pytest.raises(CdpError) as not_held:
            await choose_role(session=session, row=row, role=Role.ANALYST)
        assert not_held.value.code is ErrorCode.FORBIDDEN
        await choose_role(session=session, row=row, role=Role.COMPLIANCE)
        with pytest.raises(CdpError) as again:
            await choose_role(session=session, row=row, role=Role.SUPPORT)
        assert again.value.code is ErrorCode.CONFLICT
    assert row.role == "compliance"


async def test_revoking_a_person_ends_all_their_live_sessions_and_no_one_elses(
    database: Database, settings: Settings
) -> None:
    async with audited_transaction(database, trail()) as session:
        for who in ("wang", "wang", "zhao"):
            await open_session(
                session=session, settings=settings, person=person(Role.SUPPORT, who=who)
            )
    async with audited_transaction(database, trail()) as session:
        ended = await revoke(
            session=session, by="compliance:x", person=(StaffProvider.WECOM, "wang")
        )
        assert ended == 2
        assert await revoke(session=session, by="x", person=(StaffProvider.WECOM, "wang")) == 0
        with pytest.raises(CdpError) as unknown:
            await revoke(session=session, by="x", public_id="ss_0000000000000000")
        assert unknown.value.code is ErrorCode.NOT_FOUND
    async with database.transaction() as session:
        live = await live_sessions(session=session, settings=settings)
        assert [row.directory_id for row in live] == ["zhao"]
        revoked = (
            (
                await session.execute(
                    sa.select(AuditEvent).where(col(AuditEvent.action) == "staff.revoke")
                )
            )
            .scalars()
            .all()
        )
        assert {r.detail["person"] for r in revoked} == {"wecom:wang"}


async def test_a_sign_in_attempt_works_once_in_the_browser_that_began_it(
    database: Database,
) -> None:
    async with database.transaction() as session:
        state = await begin_attempt(
            session=session, provider=StaffProvider.OIDC, nonce="n", code_verifier="v"
        )
        other = await begin_attempt(session=session, provider=StaffProvider.OIDC)
    async with database.transaction() as session:
        # Another browser (no cookie, or another attempt's) gets nothing, and uses nothing up.
        assert (
            await take_attempt(
                session=session, provider=StaffProvider.OIDC, state=state, cookie=None
            )
            is None
        )
        assert (
            await take_attempt(
                session=session, provider=StaffProvider.OIDC, state=state, cookie=other
            )
            is None
        )
        # Another provider's callback spends it.
        assert (
            await take_attempt(
                session=session, provider=StaffProvider.WECOM, state=other, cookie=other
            )
            is None
        )
        taken = await take_attempt(
            session=session, provider=StaffProvider.OIDC, state=state, cookie=state
        )
        assert taken is not None and (taken.nonce, taken.code_verifier) == ("n", "v")
        assert (
            await take_attempt(
                session=session, provider=StaffProvider.OIDC, state=state, cookie=state
            )
            is None
        )
        assert (
            await take_attempt(
                session=session, provider=StaffProvider.OIDC, state=other, cookie=other
            )
            is None
        )


async def test_a_sign_in_attempt_expires_after_ten_minutes_and_is_cleared(
    database: Database,
) -> None:
    long_ago = utcnow() - ATTEMPT_TTL - timedelta(seconds=1)
    async with database.transaction() as session:
        old = await begin_attempt(session=session, provider=StaffProvider.WECOM, now=long_ago)
    async with database.transaction() as session:
        assert (
            await take_attempt(session=session, provider=StaffProvider.WECOM, state=old, cookie=old)
            is None
        )
        await begin_attempt(session=session, provider=StaffProvider.WECOM, now=long_ago)
        await begin_attempt(session=session, provider=StaffProvider.WECOM)
    async with database.transaction() as session:
        await begin_attempt(session=session, provider=StaffProvider.WECOM)
        count = await session.scalar(sa.select(sa.func.count()).select_from(SignInAttempt))
    assert count == 2  # the expired one was cleared on the way


def test_a_sealed_credential_opens_only_for_its_purpose_and_keyring() -> None:
    sealed = seal_credential(TEST_KEYRING, "oidc-refresh:ss_1", "refresh-token-value")
    assert "refresh-token-value" not in sealed
    assert open_credential(TEST_KEYRING, "oidc-refresh:ss_1", sealed) == "refresh-token-value"
    assert open_credential(TEST_KEYRING, "oidc-refresh:ss_2", sealed) is None
    assert open_credential(Keyring.generate(development=True), "oidc-refresh:ss_1", sealed) is None
    assert open_credential(TEST_KEYRING, "oidc-refresh:ss_1", "not base64!") is None
