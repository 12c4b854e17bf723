"""The identity rules on both databases: a merge that breaks a limit is refused whole and kept
for review, compliance resolves the review, blocked patterns, and bad rules stop start-up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import ConfigError, Settings, load_settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.linking.steps import MERGE_STEPS
from cdp.profiles.merge import merge_profiles
from cdp.profiles.models import (
    Identity,
    IdentityReview,
    Profile,
    ProfileMerge,
    ReviewStatus,
)
from tests.conftest import (
    TEST_KEYRING,
    ClientFactory,
    audited,
    error_codes,
    gql,
    make_settings,
)
from tests.support.audit_log import audit_rows
from tests.support.erasure_calls import officer, request_erasure
from tests.support.people import LINK, MINI, OFFICIAL, link

REVIEWS = """
query Reviews($status: IdentityReviewStatus, $first: Int! = 20, $after: String) {
  identityReviews(status: $status, first: $first, after: $after) {
    items { id profileId otherProfileId rule status detail resolvedBy reason }
    pageInfo { endCursor hasNextPage }
  }
}
"""
RESOLVE = """
mutation Resolve($input: ResolveIdentityReviewInput!) {
  resolveIdentityReview(input: $input) { id status resolvedBy reason profileId otherProfileId }
}
"""
LOOKUP = 'query L($id: ID) { profile(id: $id, purpose: "ticket T-9") { id unionId } }'


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        identity_rules={
            "open_id": {"blocked": ["oTest_.*"]},
            "union_id": {"blocked": ["oUnionTest.*"]},
        },
    )


async def link_body(
    client: httpx.AsyncClient, app: str, open_id: str, union: str | None = None
) -> dict[str, Any]:
    channel = "MINI_PROGRAM" if app == MINI else "OFFICIAL_ACCOUNT"
    given = {"channel": channel, "appId": app, "openId": open_id, "unionId": union}
    return await gql(client, LINK, {"input": given})


async def state(database: Database) -> dict[str, Any]:
    """Every row a link or merge writes, as it stands."""
    async with database.transaction() as session:
        profiles = (
            await session.execute(
                sa.select(Profile.id, Profile.union_id_bidx, Profile.updated_at).order_by(
                    Profile.id
                )
            )
        ).all()
        identities = (
            await session.execute(
                sa.select(Identity.id, Identity.profile_id, Identity.last_seen_at).order_by(
                    Identity.id
                )
            )
        ).all()
        merges = (await session.execute(sa.select(ProfileMerge.id))).all()
    return {"profiles": profiles, "identities": identities, "merges": merges}


async def two_mini_openids(service: httpx.AsyncClient) -> tuple[str, str, str]:
    """Profile one: a mini-program OpenID alone; profile two: another OpenID of the same app
    with the UnionID. Linking the first OpenID with that UnionID would join them."""
    one = await link(service, "MINI_PROGRAM", MINI, "oMini_rule_one_000000000000001")
    union = "oUnion_rule_00000000000000001"
    two = await link(service, "MINI_PROGRAM", MINI, "oMini_rule_two_000000000000001", union)
    return one["id"], two["id"], union


async def test_a_merge_giving_one_profile_two_openids_of_an_app_is_refused_whole(
    service_client: httpx.AsyncClient, compliance_client: httpx.AsyncClient, database: Database
) -> None:
    one, two, union = await two_mini_openids(service_client)
    before = await state(database)
    body = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    assert error_codes(body) == ["CONFLICT"] and body["data"] == {"linkIdentity": None}
    [error] = body["errors"]
    review_id = error["extensions"]["reviewId"]
    assert review_id in error["message"]
    assert await state(database) == before
    listed = await gql(compliance_client, REVIEWS, {"status": "OPEN"})
    [review] = listed["data"]["identityReviews"]["items"]
    assert review["id"] == review_id and review["rule"] == "open_id"
    assert (review["profileId"], review["otherProfileId"]) == (one, two)
    assert review["detail"] == {"via": "linkIdentity", "broken": {"open_id": [MINI]}}


async def test_a_merge_of_two_profiles_with_different_union_ids_is_refused_for_review(
    service_client: httpx.AsyncClient, compliance_client: httpx.AsyncClient, database: Database
) -> None:
    await link(service_client, "MINI_PROGRAM", MINI, "oMini_two_unions_0000000000001", "oUA" * 9)
    await link(
        service_client, "OFFICIAL_ACCOUNT", OFFICIAL, "oOffi_two_unions_0000000000001", "oUB" * 9
    )
    before = await state(database)
    body = await link_body(service_client, MINI, "oMini_two_unions_0000000000001", "oUB" * 9)
    assert error_codes(body) == ["CONFLICT"] and body["errors"][0]["extensions"]["reviewId"]
    assert await state(database) == before
    [review] = (await gql(compliance_client, REVIEWS))["data"]["identityReviews"]["items"]
    assert review["rule"] == "union_id" and review["status"] == "OPEN"


async def test_a_refused_merge_tried_again_names_the_same_review(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    _, _, union = await two_mini_openids(service_client)
    first = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    again = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    ids = {b["errors"][0]["extensions"]["reviewId"] for b in (first, again)}
    assert len(ids) == 1
    async with database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(IdentityReview)) == 1


async def test_a_new_openid_beyond_the_limit_of_its_unionids_profile_is_a_conflict(
    service_client: httpx.AsyncClient, database: Database
) -> None:
    _, _, union = await two_mini_openids(service_client)
    before = await state(database)
    body = await link_body(service_client, MINI, "oMini_rule_three_00000000000001", union)
    assert error_codes(body) == ["CONFLICT"]
    assert await state(database) == before


async def test_a_raised_limit_lets_the_merge_through(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    roomy = make_settings(database_url, identity_rules={"open_id": {"limit": 2}})
    app = create_app(roomy, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    token = issue_token(roomy, role=Role.SERVICE, subject="service-test")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as service:
        one, _, union = await two_mini_openids(service)
        merged = await link(service, "MINI_PROGRAM", MINI, "oMini_rule_one_000000000000001", union)
    assert merged["id"] == one and len(merged["identities"]) == 2


async def test_compliance_merges_a_review_and_the_old_id_reaches_the_survivor(
    service_client: httpx.AsyncClient,
    compliance_client: httpx.AsyncClient,
    support_client: httpx.AsyncClient,
    database: Database,
) -> None:
    one, two, union = await two_mini_openids(service_client)
    body = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    review_id = body["errors"][0]["extensions"]["reviewId"]
    given = {"reviewId": review_id, "decision": "MERGE", "reason": "ticket C-1: same person"}
    resolved = await gql(compliance_client, RESOLVE, {"input": given})
    assert "errors" not in resolved, resolved
    done = resolved["data"]["resolveIdentityReview"]
    assert done["status"] == "MERGED" and done["resolvedBy"] == "compliance-test"
    assert done["profileId"] == done["otherProfileId"] == one
    found = await gql(support_client, LOOKUP, {"id": two})
    assert found["data"]["profile"]["id"] == one
    again = await gql(compliance_client, RESOLVE, {"input": given})
    assert error_codes(again) == ["CONFLICT"]
    actions = [r["action"] for r in await audit_rows(database)]
    assert "identity.review" in actions and "identity.review_resolve" in actions
    assert actions.count("profile.merge") == 1


async def test_kept_apart_the_pair_stays_refused_under_the_same_review(
    service_client: httpx.AsyncClient, compliance_client: httpx.AsyncClient, database: Database
) -> None:
    _, _, union = await two_mini_openids(service_client)
    body = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    review_id = body["errors"][0]["extensions"]["reviewId"]
    given = {"reviewId": review_id, "decision": "KEEP_APART", "reason": "ticket C-2"}
    kept = await gql(compliance_client, RESOLVE, {"input": given})
    assert kept["data"]["resolveIdentityReview"]["status"] == "KEPT_APART"
    before = await state(database)
    later = await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    assert later["errors"][0]["extensions"]["reviewId"] == review_id
    assert await state(database) == before
    listed = await gql(compliance_client, REVIEWS, {"status": "OPEN"})
    assert listed["data"]["identityReviews"]["items"] == []


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"reviewId": "00000000-0000-0000-0000-000000000000", "reason": "x"}, "NOT_FOUND"),
        ({"reviewId": "r" * 300, "reason": "x"}, "BAD_USER_INPUT"),
        ({"reviewId": "r-1", "reason": "   "}, "BAD_USER_INPUT"),
    ],
)
async def test_a_bad_resolution_is_a_coded_error(
    compliance_client: httpx.AsyncClient, given: dict[str, str], code: str
) -> None:
    body = await gql(compliance_client, RESOLVE, {"input": {**given, "decision": "MERGE"}})
    assert error_codes(body) == [code]


async def test_reviews_page_newest_first(
    service_client: httpx.AsyncClient, compliance_client: httpx.AsyncClient
) -> None:
    for n in range(3):
        await link(service_client, "MINI_PROGRAM", MINI, f"oMini_page_a_{n:016d}")
        union = f"oUnion_page_{n:016d}"
        await link(service_client, "MINI_PROGRAM", MINI, f"oMini_page_b_{n:016d}", union)
        await link_body(service_client, MINI, f"oMini_page_a_{n:016d}", union)
    first = (await gql(compliance_client, REVIEWS, {"first": 2}))["data"]["identityReviews"]
    assert len(first["items"]) == 2 and first["pageInfo"]["hasNextPage"]
    after = {"first": 2, "after": first["pageInfo"]["endCursor"]}
    rest = (await gql(compliance_client, REVIEWS, after))["data"]["identityReviews"]
    assert len(rest["items"]) == 1 and not rest["pageInfo"]["hasNextPage"]
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    ("open_id", "union", "field"),
    [
        ("oTest_0000000000000000000001", None, "openId"),
        ("OTEST_0000000000000000000001", None, "openId"),
        ("oMini_fine_00000000000000001", "oUnionTest00000000000000001", "unionId"),
    ],
)
async def test_a_blocked_identifier_is_refused_with_bad_user_input(
    service_client: httpx.AsyncClient,
    database: Database,
    open_id: str,
    union: str | None,
    field: str,
) -> None:
    body = await link_body(service_client, MINI, open_id, union)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    assert (await state(database))["profiles"] == []


@pytest.mark.parametrize(
    "rules",
    [
        '{"open_id": {"priority": 1}}',
        '{"open_id": {"blocked": ["("]}}',
        '{"open_id": {"limit": 0}}',
        '{"union_id": {"limit": 2}}',
        '{"phone_number": {}}',
        "not json",
    ],
)
def test_bad_identity_rules_stop_start_up_with_one_line(rules: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"CDP_IDENTITY_RULES": rules})
    assert str(refused.value).startswith("bad configuration: CDP_IDENTITY_RULES")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("mode", ["DELETE", "ANONYMIZE"])
async def test_erasing_either_profile_of_a_review_removes_the_review(
    service_client: httpx.AsyncClient,
    compliance_client: httpx.AsyncClient,
    client_for: ClientFactory,
    mode: str,
) -> None:
    _, two, union = await two_mini_openids(service_client)
    await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    opened = await request_erasure(officer(client_for, "a"), two, mode)
    approve = "mutation A($r: ID!) { approveErasure(input: {requestId: $r}) { status receipt } }"
    done = await gql(officer(client_for, "b"), approve, {"r": opened["id"]})
    receipt = done["data"]["approveErasure"]["receipt"]
    assert receipt["purge"]["identity_reviews"] == 1 and receipt["verify"]["clean"] is True
    listed = await gql(compliance_client, REVIEWS)
    assert listed["data"]["identityReviews"]["items"] == []


async def test_a_review_whose_profiles_merge_otherwise_is_settled_by_the_merge(
    service_client: httpx.AsyncClient, database: Database, settings: Settings, vault: Vault
) -> None:
    one, two, union = await two_mini_openids(service_client)
    await link_body(service_client, MINI, "oMini_rule_one_000000000000001", union)
    async with audited(database) as session:
        survivor, loser = [
            await session.scalar(sa.select(Profile).where(Profile.public_id == pid))
            for pid in (one, two)
        ]
        assert survivor is not None and loser is not None
        await merge_profiles(
            session=session,
            vault=vault,
            settings=settings,
            survivor=survivor,
            loser=loser,
            reason="test",
            steps=MERGE_STEPS,
        )
    async with database.transaction() as session:
        [review] = (await session.scalars(sa.select(IdentityReview))).all()
    assert review.status is ReviewStatus.MERGED
    assert review.profile_id == review.other_profile_id == survivor.id
