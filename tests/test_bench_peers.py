"""The bench's yardsticks are what they claim: the hand-written lookup endpoint answers and
audits as cdp's `profile(phone:)` does, PostGraphile's answer is held to `me`'s counts and is
reported unavailable without node or npm, and a ratio is the median of its rounds' ratios."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from bench import postgraphile
from bench.customer import LOOKUP
from bench.handwritten_lookup import LookupEndpoint, lookup_body
from bench.load import Result
from bench.report import Row, table
from bench.servers import Server, cpu_seconds
from bench.sides import Side, ratio
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, ClientFactory
from tests.support.audit_log import UPDATE_ID, audit_rows, call, link_id, summary

PURPOSE = "bench: caller asks about an order"


async def _both(
    settings: Settings, database: Database, client_for: ClientFactory, phone: str
) -> tuple[tuple[int, Any, list[dict[str, Any]]], ...]:
    """cdp's and the hand-written endpoint's status, answer and audit records for `phone`."""
    token = issue_token(settings, role=Role.SUPPORT, subject="bench-support")
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    cdp = client_for(None)
    query = json.dumps({"query": LOOKUP.replace("@PICK@", phone)}, ensure_ascii=False)
    ours = await cdp.post("/graphql", content=query, headers={**headers, "x-request-id": "cdp1"})
    endpoint = LookupEndpoint(settings, database, KeyringSource.fixed(TEST_KEYRING))
    app = Starlette(routes=[Route("/lookup", endpoint.handle, methods=["POST"])])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hand.test"
        ) as hand:
            theirs = await hand.post(
                "/lookup",
                content=lookup_body(phone, PURPOSE),
                headers={**headers, "x-request-id": "hand1"},
            )
    finally:
        await endpoint.keystore.dispose()
    return (
        (ours.status_code, ours.json(), await audit_rows(database, "cdp1")),
        (theirs.status_code, theirs.json(), await audit_rows(database, "hand1")),
    )


async def test_the_hand_written_lookup_answers_and_audits_as_cdps_lookup_does(
    settings: Settings, database: Database, client_for: ClientFactory
) -> None:
    public_id, _ = await link_id(client_for(Role.SERVICE), "oBenchLookupOpenId0000000001")
    body, _ = await call(
        client_for(Role.CUSTOMER, public_id),
        UPDATE_ID,
        {"input": {"phone": "13800138000", "name": "王小明"}},
    )
    assert "errors" not in body, body
    (status, answer, records), (hand_status, hand_answer, hand_records) = await _both(
        settings, database, client_for, "138 0013 8000"
    )
    assert status == hand_status == 200
    assert answer == hand_answer
    assert answer["data"]["profile"]["phone"] == "138****8000"
    assert answer["data"]["profile"]["name"] == "王*"
    assert [summary(r) for r in records] == [summary(r) for r in hand_records]
    assert {f["access"] for r in records for f in r["fields"]} == {"masked"}


async def test_the_hand_written_lookup_of_nobody_answers_null_and_counts_the_miss_as_cdp_does(
    settings: Settings, database: Database, client_for: ClientFactory
) -> None:
    (status, answer, records), (hand_status, hand_answer, hand_records) = await _both(
        settings, database, client_for, "13900000000"
    )
    assert status == hand_status == 200
    assert answer == hand_answer == {"data": {"profile": None}}
    assert [summary(r) for r in records] == [summary(r) for r in hand_records]
    # One actor's misses on one cap: the hand-written miss is that actor's second.
    assert [{**r["detail"], "misses": 2} for r in records] == [r["detail"] for r in hand_records]
    assert [r["outcome"] for r in records] == ["not_found"]


def _peer_answer(**counts: int) -> dict[str, Any]:
    order = {"orderItemsByOrderId": {"nodes": [{"sku": "TEA-1"}]}}
    node = {
        name: {"nodes": [order if name == "ordersByProfileId" else {}] * counts.get(name, n)}
        for name, n in postgraphile.EXPECTED.items()
    }
    return {"data": {"allProfiles": {"nodes": [node]}}}


def test_postgraphiles_answer_must_have_every_relation_of_the_member() -> None:
    postgraphile.check(_peer_answer())
    with pytest.raises(RuntimeError, match="ordersByProfileId"):
        postgraphile.check(_peer_answer(ordersByProfileId=8))
    with pytest.raises(RuntimeError, match="0 profiles"):
        postgraphile.check({"data": {"allProfiles": {"nodes": []}}})


def test_postgraphile_is_unavailable_without_node_or_npm_and_the_table_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postgraphile, "FOLDER", tmp_path / "postgraphile")
    monkeypatch.setattr(postgraphile.shutil, "which", lambda _name: None)
    assert postgraphile.install() == "no node"
    monkeypatch.setattr(postgraphile.shutil, "which", lambda name: None if name == "npm" else name)
    assert postgraphile.install() == "no npm"
    row = Row("`me` PostGraphile", math.nan, "", "—", None, "unavailable (no npm)")
    assert "| `me` PostGraphile | unavailable (no npm) | — | — |" in table([row])


def _side(*per_second: float) -> Side:
    results = tuple(Result(int(n * 10), 10.0, 0, 1.0, 2.0) for n in per_second)
    return Side(sorted(per_second)[len(per_second) // 2], 1.0, 2.0, results)


def test_a_ratio_is_the_median_of_the_ratios_of_rounds_run_together() -> None:
    # Per round 2.0, 0.5 and 2.0: the median 2.0, not the ratio of the medians (20 / 20).
    assert ratio(_side(20, 10, 40), _side(10, 20, 20)) == 2.0


def test_a_servers_cpu_time_is_its_process_groups_and_unknown_without_one() -> None:
    spent = sum(os.times()[:2])  # this process's user and system time, at least
    assert cpu_seconds(Server("this test", 0, os.getpgrp())) >= spent - 0.05
    assert math.isnan(cpu_seconds(Server("unknown", 0)))
