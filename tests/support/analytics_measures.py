"""Every analytics measure, clients of apps with a chosen minimum group size (the client_at
fixture), and reading and checking the measures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, gql, make_settings

BREAKDOWN = "{ cells { key count suppressed } total totalSuppressed }"
RATE = "{ key channel numerator denominator rate suppressed }"
SOURCES = """{
  cells { source channel orders revenueFen buyers suppressed }
  totalOrders totalRevenueFen totalSuppressed
}"""
RETENTION = f"{{ day7 {RATE} day30 {RATE} }}"
MEASURES = {
    "membersByTier": BREAKDOWN,
    "membersByFirstChannel": BREAKDOWN,
    "tagCounts": BREAKDOWN,
    "consentOptInRates": RATE,
    "ordersBySource": SOURCES,
    "conversionByChannel": RATE,
    "repurchaseRate": RATE,
    "retention": RETENTION,
}
ClientAt = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_at(database_url: str, database: Database) -> AsyncIterator[ClientAt]:
    """`client_at(role, k=5, subject=None)`: a client of an app whose minimum group size is
    k (5, the least allowed, unless told), over the test's database."""
    apps: dict[int, tuple[Settings, Any]] = {}
    clients: list[httpx.AsyncClient] = []

    def make(role: Role, k: int = 5, subject: str | None = None) -> httpx.AsyncClient:
        if k not in apps:
            settings = make_settings(database_url, analytics_min_group_size=k)
            apps[k] = (settings, create_app(settings, database, KeyringSource.fixed(TEST_KEYRING)))
        settings, app = apps[k]
        token = issue_token(settings, role=role, subject=subject or f"{role.value}-test")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def measure(
    client: httpx.AsyncClient, name: str, start: str, end: str, **arguments: Any
) -> Any:
    extra = "".join(f", {key}: {value}" for key, value in arguments.items())
    body = await gql(
        client,
        f'{{ analytics {{ {name}(from: "{start}", to: "{end}"{extra}) {MEASURES[name]} }} }}',
    )
    assert "errors" not in body, body
    return body["data"]["analytics"][name]


async def everything(client: httpx.AsyncClient, start: str, end: str) -> dict[str, Any]:
    fields = " ".join(f'{n}(from: "{start}", to: "{end}") {s}' for n, s in MEASURES.items())
    body = await gql(client, f"{{ analytics {{ minimumGroupSize {fields} }} }}")
    assert "errors" not in body, body
    return body["data"]["analytics"]  # type: ignore[no-any-return]


def counts(breakdown: Mapping[str, Any]) -> dict[str, int | None]:
    """{key: count} with None for a suppressed cell; a suppressed cell never shows a number."""
    for cell in breakdown["cells"]:
        assert (cell["count"] is None) == cell["suppressed"], cell
    assert (breakdown["total"] is None) == breakdown["totalSuppressed"], breakdown
    return {cell["key"]: cell["count"] for cell in breakdown["cells"]}


def sources(breakdown: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """(source, channel, orders, revenueFen, buyers) per cell, in the order given."""
    rows = []
    for cell in breakdown["cells"]:
        numbers = (cell["orders"], cell["revenueFen"], cell["buyers"])
        assert (numbers == (None, None, None)) == cell["suppressed"], cell
        rows.append((cell["source"], cell["channel"], *numbers))
    hidden = breakdown["totalOrders"] is None and breakdown["totalRevenueFen"] is None
    assert hidden == breakdown["totalSuppressed"], breakdown
    return rows


def shown(cell: Mapping[str, Any]) -> tuple[int, int, float] | None:
    """(numerator, denominator, rate) of a rate cell, None when suppressed."""
    numbers = (cell["numerator"], cell["denominator"], cell["rate"])
    if cell["suppressed"]:
        assert numbers == (None, None, None), cell
        return None
    return numbers


def assert_no_small_group_shows(
    truth: Mapping[Any, set[str]],
    cells: Iterable[tuple[Any, int | None, bool]],
    *,
    total_suppressed: bool,
    k: int,
) -> None:
    """The rules for a breakdown, given who is really behind each cell (truth) and the
    (key, shown count, suppressed) of each cell returned:
    (a) every cell of fewer than k people is suppressed, and shown counts are true;
    (b) a lone suppressed cell means the total is suppressed;
    (c) the suppressed cells together hold at least k distinct people, or the total is
        suppressed: `total - sum(visible)` never reveals a group under k."""
    returned = {key: (count, suppressed) for key, count, suppressed in cells}
    assert {key for key, people in truth.items() if people} <= set(returned)
    for key, (count, suppressed) in returned.items():
        people = truth.get(key, set())
        if len(people) < k:
            assert suppressed, (key, len(people))
        if not suppressed:
            assert count == len(people), key
    hidden = [key for key, (_, suppressed) in returned.items() if suppressed]
    if len(hidden) == 1:
        assert total_suppressed, hidden
    if hidden and not total_suppressed:
        behind = set().union(*(truth.get(key, set()) for key in hidden))
        assert len(behind) >= k, (hidden, len(behind))


def check_counts(breakdown: Mapping[str, Any], truth: Mapping[str, set[str]], k: int) -> None:
    assert_no_small_group_shows(
        truth,
        [(c["key"], c["count"], c["suppressed"]) for c in breakdown["cells"]],
        total_suppressed=breakdown["totalSuppressed"],
        k=k,
    )


def check_sources(
    breakdown: Mapping[str, Any], truth: Mapping[tuple[str | None, str], set[str]], k: int
) -> None:
    assert_no_small_group_shows(
        truth,
        [((c["source"], c["channel"]), c["buyers"], c["suppressed"]) for c in breakdown["cells"]],
        total_suppressed=breakdown["totalSuppressed"],
        k=k,
    )
