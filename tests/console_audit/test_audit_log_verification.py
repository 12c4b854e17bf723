"""`auditLogVerification`: compliance checks the audit log from the console as `cdp audit
verify` does; an intact log says so, a record changed behind cdp's back is named by its seq,
the check itself is audited, and no other role may run it (both databases)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.auth import Role
from cdp.db import Database
from tests.conftest import ClientFactory, error_codes
from tests.support.audit_log import AUDIT, Person, audit_rows, call, link_id, only_record
from tests.support.sealing import sealed

VERIFY = """
query Verify { auditLogVerification {
  intact checked headSeq brokenAtSeq problem checkedAt unsealed treeSize } }
"""


@pytest.fixture
async def log(
    database: Database,
    alice: Person,
    support_client: httpx.AsyncClient,
    service_client: httpx.AsyncClient,
) -> list[dict[str, Any]]:
    await call(support_client, '{ profile(phone: "13700000001", purpose: "T-2 核对") { name } }')
    await link_id(service_client, "oAuditVerify0000000000000001")
    await sealed(database)
    rows = await audit_rows(database)
    assert len(rows) >= 4
    return rows


async def tamper(database: Database, seq: int, **values: Any) -> None:
    """Change a stored record directly in the database, as someone bypassing cdp would."""
    async with database.transaction() as session:
        await session.execute(sa.update(AUDIT).where(AUDIT.c.seq == seq).values(**values))


async def verification(client: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    body, request_id = await call(client, VERIFY)
    assert "errors" not in body, body
    return body["data"]["auditLogVerification"], request_id


async def test_compliance_verifies_an_intact_log_and_the_check_is_audited(
    database: Database, log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    answer, request_id = await verification(compliance_client)
    assert answer["intact"] is True
    assert answer["checked"] == len(log)
    assert answer["headSeq"] == log[-1]["seq"]
    assert answer["brokenAtSeq"] is None and answer["problem"] is None
    assert answer["checkedAt"].endswith("+00:00")
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"]) == (
        "compliance",
        "audit.verify",
        "ok",
    )
    assert row["purpose"] is None and row["profile_id"] is None
    assert row["detail"]["checked"] == len(log) and row["detail"]["problem"] == ""
    assert (answer["unsealed"], answer["treeSize"]) == (0, len(log))
    # The check's own record is part of the log the next check verifies, once sealed.
    pending, _ = await verification(compliance_client)
    assert pending["intact"] is True and pending["unsealed"] == 1  # the first check's record
    await sealed(database)
    again, _ = await verification(compliance_client)
    assert again["intact"] is True and again["headSeq"] == row["seq"] + 1  # and the second's


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "另一个目的"},
        {"outcome": "ok", "actor_role": "compliance"},
        {"detail": {"forged": True}},
    ],
)
async def test_a_record_changed_in_the_database_is_named_by_its_seq(
    database: Database,
    log: list[dict[str, Any]],
    compliance_client: httpx.AsyncClient,
    change: dict[str, Any],
) -> None:
    bad = log[2]["seq"]
    await tamper(database, bad, **change)
    answer, request_id = await verification(compliance_client)
    assert answer["intact"] is False
    assert answer["brokenAtSeq"] == bad
    assert isinstance(answer["problem"], str) and answer["problem"].strip()
    row = await only_record(database, request_id)
    assert (row["action"], row["outcome"]) == ("audit.verify", "broken")
    assert str(bad) in row["detail"]["problem"]


async def test_a_changed_last_record_is_named_too(
    database: Database, log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    await tamper(database, log[-1]["seq"], actor_subject="someone-else")
    answer, _ = await verification(compliance_client)
    assert (answer["intact"], answer["brokenAtSeq"]) == (False, log[-1]["seq"])


async def test_an_empty_log_verifies_with_nothing_checked(
    compliance_client: httpx.AsyncClient,
) -> None:
    answer, _ = await verification(compliance_client)
    assert (answer["intact"], answer["checked"], answer["headSeq"]) == (True, 0, 0)


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.CUSTOMER, Role.ANALYST, Role.MARKETER, Role.SERVICE]
)
async def test_only_compliance_may_verify_the_log(
    database: Database, client_for: ClientFactory, role: Role
) -> None:
    body, request_id = await call(client_for(role), VERIFY)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"auditLogVerification": None}
    row = await only_record(database, request_id)
    assert (row["actor_role"], row["action"], row["outcome"]) == (
        role.value,
        "query.auditLogVerification",
        "forbidden",
    )


@pytest.mark.parametrize(
    "document",
    [
        '{ auditLogVerification(checkpoint: "x") { intact } }',
        "{ auditLogVerification }",
        "{ auditLogVerification { intact seq } }",
    ],
)
async def test_a_malformed_verification_request_is_refused_with_a_code(
    compliance_client: httpx.AsyncClient, document: str
) -> None:
    body, _ = await call(compliance_client, document)
    assert error_codes(body) == ["BAD_USER_INPUT"]
