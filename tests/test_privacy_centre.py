"""The customer's privacy centre through the API (both databases): a one-use link to one's
own data, audited and limited; cancelling one's account with its cooling-off, withdrawal,
compliance's hold and the erasure that follows; the privacy notice registry's re-consent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.consent import notices
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.privacy.runner import run_due_cancellations
from tests.conftest import TEST_KEYRING, ClientFactory, audited, error_codes, gql
from tests.support.erasure_people import Person

EXPORT = "mutation { requestMyDataExport(input: {format: JSON}) { url expiresAt } }"
CENTRE = """query { myPrivacy { acceptedNoticeVersion reconsentNeeded coolingOffDays
  notice { version material } cancellation { id status runsAt withdrawable held } } }"""
CANCEL = "mutation { cancelMyAccount(input: {confirm: true}) { id status runsAt withdrawable } }"
WITHDRAW = """mutation($id: ID!) { withdrawMyCancellation(input: {requestId: $id}) {
  id status withdrawable } }"""
HOLD = """mutation($id: ID!, $why: String!) {
  holdErasure(input: {requestId: $id, legalReason: $why}) {
    id status holdReason heldBy origin } }"""
RELEASE = """mutation($id: ID!) {
  releaseErasureHold(input: {requestId: $id, reason: "dispute settled"}) { id status } }"""
QUEUE = "query { erasureRequests { items { id status origin runsAt requestedBy } } }"
CONSENT = """mutation($v: String) { updateMyConsents(input: {noticeVersion: $v,
  consents: [{purpose: MARKETING, granted: true}]}) { id } }"""


def data(body: dict[str, object]) -> dict[str, object]:
    assert "errors" not in body, body
    result = body["data"]
    assert isinstance(result, dict)
    return result


async def actions(database: Database) -> list[str]:
    async with database.transaction() as session:
        return list(
            (await session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq))).all()
        )


async def test_a_link_to_ones_own_data_works_once_and_is_audited(
    people: tuple[Person, Person], database: Database
) -> None:
    anna, _ = people
    link = data(await gql(anna.customer, EXPORT))["requestMyDataExport"]
    assert isinstance(link, dict) and link["url"].startswith("/h5/my-data/")
    first = await anna.customer.get(link["url"])
    assert first.status_code == 200, first.text
    assert first.headers["content-disposition"].startswith("attachment;")
    assert first.headers["cache-control"] == "no-store"
    document = first.json()
    assert document["format"] == "cdp.export/1"
    assert document["profile"]["name"] == anna.spec.name
    again = await anna.customer.get(link["url"])
    assert again.status_code == 404 and again.json()["errors"][0]["extensions"]["code"] == (
        "NOT_FOUND"
    )
    assert (await anna.customer.get("/h5/my-data/not-a-token")).status_code == 404
    done = await actions(database)
    assert "export.link" in done and "export" in done


async def test_copies_of_ones_data_are_limited_per_day(people: tuple[Person, Person]) -> None:
    anna, _ = people
    for _ in range(5):  # CDP_MY_DATA_EXPORTS_PER_DAY's default
        data(await gql(anna.customer, EXPORT))
    refused = await gql(anna.customer, EXPORT, status=429)
    assert error_codes(refused) == ["QUERY_TOO_COMPLEX"]
    assert refused["errors"][0]["extensions"]["limit"] == "exports"


async def test_staff_cannot_ask_for_a_customers_link(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    for role in (Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE, Role.ANALYST):
        assert error_codes(await gql(client_for(role), EXPORT)) == ["FORBIDDEN"]


async def test_a_cancelled_account_cools_off_and_can_be_withdrawn(
    people: tuple[Person, Person], client_for: ClientFactory
) -> None:
    anna, _ = people
    before = datetime.now(UTC)
    cancelled = data(await gql(anna.customer, CANCEL))["cancelMyAccount"]
    assert isinstance(cancelled, dict)
    assert cancelled["status"] == "COOLING_OFF" and cancelled["withdrawable"] is True
    runs_at = datetime.fromisoformat(cancelled["runsAt"])
    assert before + timedelta(days=15) <= runs_at <= datetime.now(UTC) + timedelta(days=15)
    assert error_codes(await gql(anna.customer, CANCEL)) == ["CONFLICT"]
    centre = data(await gql(anna.customer, CENTRE))["myPrivacy"]
    assert isinstance(centre, dict) and centre["cancellation"]["id"] == cancelled["id"]
    queue = data(await gql(client_for(Role.COMPLIANCE), QUEUE))["erasureRequests"]
    assert isinstance(queue, dict)
    assert [(r["status"], r["origin"]) for r in queue["items"]] == [("COOLING_OFF", "SELF")]
    withdrawn = data(await gql(anna.customer, WITHDRAW, {"id": cancelled["id"]}))
    assert withdrawn["withdrawMyCancellation"] == {
        "id": cancelled["id"],
        "status": "WITHDRAWN",
        "withdrawable": False,
    }
    assert data(await gql(anna.customer, CENTRE))["myPrivacy"]["cancellation"] is None  # type: ignore[index]
    assert error_codes(await gql(anna.customer, WITHDRAW, {"id": cancelled["id"]})) == ["CONFLICT"]
    # Withdrawn is over: the person may cancel again later.
    assert data(await gql(anna.customer, CANCEL))["cancelMyAccount"]["status"] == "COOLING_OFF"  # type: ignore[index]


async def test_a_cancellation_runs_after_its_cooling_off_unless_compliance_holds_it(
    people: tuple[Person, Person],
    client_for: ClientFactory,
    database: Database,
    keystore: KeyStore,
) -> None:
    anna, bystander = people
    cancelled = data(await gql(anna.customer, CANCEL))["cancelMyAccount"]
    assert isinstance(cancelled, dict)
    compliance = client_for(Role.COMPLIANCE, "officer-a")
    blank = await gql(compliance, HOLD, {"id": cancelled["id"], "why": "  "})
    assert error_codes(blank) == ["BAD_USER_INPUT"]
    held = data(await gql(compliance, HOLD, {"id": cancelled["id"], "why": "dispute #4417"}))
    assert held["holdErasure"] == {
        "id": cancelled["id"],
        "status": "HELD",
        "holdReason": "dispute #4417",
        "heldBy": "officer-a",
        "origin": "SELF",
    }
    keyring = KeyringSource.fixed(TEST_KEYRING)
    later = datetime.now(UTC) + timedelta(days=16)
    nothing = await run_due_cancellations(database, keyring, keystore, now=later)
    assert nothing.completed == []
    assert data(await gql(anna.customer, CENTRE))["myPrivacy"]["cancellation"]["held"] is True  # type: ignore[index]
    data(await gql(compliance, RELEASE, {"id": cancelled["id"]}))
    early = await run_due_cancellations(database, keyring, keystore)
    assert early.completed == []  # still cooling off
    done = await run_due_cancellations(database, keyring, keystore, now=later)
    assert done.completed == [cancelled["id"]]
    gone = await gql(anna.customer, "query { me { id } }")
    assert error_codes(gone) in (["SUPPRESSED"], ["NOT_FOUND"])
    assert "errors" not in await gql(bystander.customer, "query { me { id } }")
    queue = data(await gql(compliance, QUEUE))["erasureRequests"]
    assert isinstance(queue, dict)
    (request,) = queue["items"]
    assert request["status"] == "COMPLETED" and request["requestedBy"] == anna.id
    # The person's own request was the authority: no officer approved it.
    async with database.transaction() as session:
        approvals = (
            await session.scalars(
                sa.select(AuditEvent.detail).where(AuditEvent.action == "erasure.approve")
            )
        ).all()
    assert [a.get("authority") for a in approvals] == ["self"]


async def test_a_material_new_notice_asks_for_the_choices_again(
    people: tuple[Person, Person], database: Database
) -> None:
    anna, _ = people
    data(await gql(anna.customer, CONSENT, {"v": "2026-01"}))
    centre = data(await gql(anna.customer, CENTRE))["myPrivacy"]
    assert isinstance(centre, dict)
    assert centre["notice"]["version"] == "2026-01" and centre["reconsentNeeded"] is False
    async with audited(database) as session:
        await notices.publish(
            session=session,
            version="2026-11",
            title="会员隐私政策",
            text="新增：我们与快递公司共享收货地址，仅用于配送。",
            changes="新增与快递公司共享收货地址的说明。",
            material=True,
            effective_at=datetime.now(UTC) - timedelta(hours=1),
        )
        await notices.publish(
            session=session,
            version="2027-06",
            title="会员隐私政策",
            text="尚未生效的版本。",
            changes="未来版本。",
            material=True,
            effective_at=datetime.now(UTC) + timedelta(days=30),
        )
    centre = data(await gql(anna.customer, CENTRE))["myPrivacy"]
    assert isinstance(centre, dict)
    assert centre["notice"]["version"] == "2026-11"
    assert centre["acceptedNoticeVersion"] == "2026-01" and centre["reconsentNeeded"] is True
    data(await gql(anna.customer, CONSENT, {"v": "2026-11"}))
    centre = data(await gql(anna.customer, CENTRE))["myPrivacy"]
    assert isinstance(centre, dict) and centre["reconsentNeeded"] is False
    history = data(
        await gql(
            anna.customer,
            "query { me { consents { history(first: 2) { items { noticeVersion } } } } }",
        )
    )
    assert history["me"]["consents"]["history"]["items"] == [  # type: ignore[index]
        {"noticeVersion": "2026-11"},
        {"noticeVersion": "2026-01"},
    ]


async def test_the_notice_registry_is_read_by_those_who_act_for_the_person(
    client_for: ClientFactory,
) -> None:
    query = "query { privacyNotices { version text } }"
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE):
        (first,) = data(await gql(client_for(role), query))["privacyNotices"]  # type: ignore[misc]
        assert first["version"] == "2026-01" and "隐私政策" in first["text"]
    for role in (Role.ANALYST, Role.MARKETER):
        assert error_codes(await gql(client_for(role), query)) == ["FORBIDDEN"]


async def test_the_customer_edits_their_address(people: tuple[Person, Person]) -> None:
    anna, _ = people
    edit = """mutation { updateMyProfile(input: {address: {province: "上海市", city: "上海市",
      district: "徐汇区", street: "漕溪北路 88 号"}}) { address { province district street } } }"""
    changed = data(await gql(anna.customer, edit))["updateMyProfile"]
    assert changed == {
        "address": {"province": "上海市", "district": "徐汇区", "street": "漕溪北路 88 号"}
    }


async def test_an_unconfirmed_cancellation_is_refused(people: tuple[Person, Person]) -> None:
    anna, _ = people
    body = await gql(anna.customer, "mutation { cancelMyAccount(input: {confirm: false}) { id } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_choice_under_an_unknown_or_future_notice_is_refused_and_changes_nothing(
    people: tuple[Person, Person], database: Database
) -> None:
    anna, _ = people
    async with audited(database) as session:
        await notices.publish(
            session=session,
            version="2027-06",
            title="会员隐私政策",
            text="尚未生效的版本。",
            changes="未来版本。",
            material=True,
            effective_at=datetime.now(UTC) + timedelta(days=30),
        )
    history = "query { me { consents { history { items { changedAt } } } } }"
    before = data(await gql(anna.customer, history))
    for version in ("2099-99", "2027-06"):
        body = await gql(anna.customer, CONSENT, {"v": version})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == "noticeVersion"
    assert data(await gql(anna.customer, history)) == before
