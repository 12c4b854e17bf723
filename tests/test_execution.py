"""cdp's execution context: plain fields completed in place answer exactly as graphql-core's
own path does (data, errors, paths), gated fields never take the shortcut, and a request
leaves nothing of its rows or its executor for the garbage collector."""

from __future__ import annotations

import enum
import gc
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.extensions import FieldExtension
from strawberry.scalars import JSON
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import ConfigError, Settings
from cdp.db import Database
from cdp.graphql import execution
from cdp.graphql.execution import CdpExecutionContext
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.orders.models import Order
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.purchases import RECORD, new_customer, order_input


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Leaf:
    name: str
    count: int
    colour: Colour
    at: datetime
    blob: JSON
    maybe: str | None
    broken: str  # holds None in some rows: a located error, not a shortcut's null
    too_big: int  # beyond GraphQL's Int in some rows
    shouted: str = strawberry.field(extensions=[Upper()])

    @strawberry.field
    def greeting(self, punctuation: str = "!") -> str:
        return f"hi {self.name}{punctuation}"

    @strawberry.field
    async def later(self) -> int:
        return self.count * 2


@strawberry.type
class Box:
    label: str
    leaves: list[Leaf]
    first: Leaf | None
    strict: Leaf


def _leaf(n: int, *, broken: str | None = "ok", too_big: int = 1) -> Leaf:
    return Leaf(
        name=f"n{n}",
        count=n,
        colour=Colour.RED if n % 2 else Colour.BLUE,
        at=datetime(2026, 11, n + 1, 8, 30, tzinfo=UTC),
        blob={"k": [n, None, "v"]},
        maybe=None if n % 2 else f"m{n}",
        broken=broken,  # type: ignore[arg-type]
        too_big=too_big,
        shouted=f"s{n}",
    )


BOXES = [
    Box(label="a", leaves=[_leaf(1), _leaf(2)], first=_leaf(3), strict=_leaf(4)),
    Box(
        label="b",
        leaves=[_leaf(5, broken=None), _leaf(6, too_big=2**40)],
        first=None,
        strict=_leaf(7, broken=None),
    ),
]


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box]:
        return BOXES

    @strawberry.field
    async def box(self) -> Box:
        return BOXES[0]


DOCUMENTS = {
    "plain leaves of every kind": "{ boxes { label leaves { name count colour at blob maybe } } }",
    "aliases, __typename and repeated fields": (
        "{ boxes { l: label label __typename leaves { a: name name n: count } } }"
    ),
    "fragments and directives": """
        query ($yes: Boolean = true) { boxes { ...B leaves { ... on Leaf { name }
          count @include(if: $yes) colour @skip(if: $yes) } } }
        fragment B on Box { label first { name maybe } }""",
    "resolvers, arguments, extensions and async fields beside plain ones": (
        '{ box { leaves { name greeting g2: greeting(punctuation: "?") shouted later } } }'
    ),
    "null where null is not allowed, in a list and in a non-null parent": (
        "{ boxes { label leaves { name broken } strict { name broken } } }"
    ),
    "a value that does not coerce": "{ boxes { leaves { name tooBig } } }",
}


def _run(context_class: type, document: str) -> Any:
    schema = strawberry.Schema(Query, execution_context_class=context_class)
    result = schema.execute_sync(document) if "later" not in document else None
    if result is None:
        import asyncio

        result = asyncio.run(schema.execute(document))
    errors = [
        (error.message, error.path, [(loc.line, loc.column) for loc in error.locations or ()])
        for error in result.errors or ()
    ]
    return result.data, sorted(errors, key=str)


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_plain_fields_answer_exactly_as_graphql_core_does(document: str) -> None:
    ours = _run(CdpExecutionContext, document)
    theirs = _run(StrawberryGraphQLCoreExecutionContext, document)
    assert ours == theirs
    assert ours[0] is not None or ours[1]  # something was answered


def test_the_shortcut_takes_plain_leaves_and_nothing_with_a_resolver_or_an_extension() -> None:
    schema = strawberry.Schema(Query)
    leaf = schema._schema.type_map["Leaf"]
    plan = execution._plan(leaf)  # type: ignore[arg-type]
    plain = {name for name, how in plan.items() if how is not None}
    assert plain == {"name", "count", "colour", "at", "blob", "maybe", "broken", "tooBig"}


def test_every_field_the_policy_gates_takes_graphql_cores_path() -> None:
    from cdp.graphql.permissions import PolicyExtension
    from cdp.graphql.schema import build_schema

    schema = build_schema()
    for type_ in schema._schema.type_map.values():
        fields = getattr(type_, "fields", None)
        if type_.name.startswith("__") or not isinstance(fields, dict) or not fields:
            continue
        if not hasattr(type_, "is_type_of"):
            continue
        plan = execution._plan(type_)
        for name, field in fields.items():
            definition = field.extensions.get(execution.STRAWBERRY_FIELD)
            gated = any(isinstance(e, PolicyExtension) for e in definition.extensions)
            if gated:
                assert plan[name] is None, f"{type_.name}.{name}"


@pytest.fixture
def saved_garbage() -> Iterator[list[Any]]:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_a_request_leaves_its_rows_and_its_executor_to_reference_counting(
    service_client: httpx.AsyncClient, client_for: ClientFactory, saved_garbage: list[Any]
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    for n in range(3):
        body = await gql(service_client, RECORD, {"input": order_input(profile_id, f"WX-{n}")})
        assert "errors" not in body, body
    query = "{ me { id points { balance } orders(first: 5) { items { id totalFen } } } }"
    gc.collect()
    saved_garbage.clear()
    body = await gql(customer, query)
    assert len(body["data"]["me"]["orders"]["items"]) == 3
    gc.collect()
    kinds = {type(o).__name__ for o in saved_garbage}
    # The rows it read (and their ORM state) and what the executor memoised are freed when
    # the request ends; only small bookkeeping may wait for the collector.
    assert not any(isinstance(o, Order) for o in saved_garbage), kinds
    assert not kinds & {"InstanceState", "CollectedFields", "DataLoader"}, sorted(
        kinds & {"InstanceState", "CollectedFields", "DataLoader"}
    )


UNTESTED = {"strawberry-graphql": "0.400.0", "graphql-core": "3.4.0"}
ME = """{ me { id tier points { balance } orders(first: 5) {
  items { id totalFen status items { sku quantity } shippingAddress { province city } } } } }"""


@pytest.fixture
def untested_libraries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The start-up check sees versions outside the tested ranges (caches rebuilt around)."""
    from cdp.graphql import versions
    from cdp.graphql.schema import build_schema

    monkeypatch.setattr(versions, "installed", lambda: dict(UNTESTED))
    versions.shortcuts_allowed.cache_clear()
    build_schema.cache_clear()
    yield
    monkeypatch.undo()
    versions.shortcuts_allowed.cache_clear()
    build_schema.cache_clear()


async def test_untested_library_versions_serve_the_same_answers_with_the_stock_executor(
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    profile_id, customer = await new_customer(service_client, client_for)
    for n in range(2):
        body = await gql(service_client, RECORD, {"input": order_input(profile_id, f"WX-{n}")})
        assert "errors" not in body, body
    ours = await gql(customer, ME)
    assert "errors" not in ours and len(ours["data"]["me"]["orders"]["items"]) == 2
    with caplog.at_level(logging.WARNING, logger="cdp.graphql"):
        request.getfixturevalue("untested_libraries")
        app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
        create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "cdp.graphql"]
    assert "UNTESTED" in warning and "graphql-core 3.4.0" in warning and "\n" not in warning
    from cdp.graphql.schema import build_schema

    assert build_schema().execution_context_class is not CdpExecutionContext
    token = issue_token(settings, role=Role.CUSTOMER, subject=profile_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    ) as stock:
        assert await gql(stock, ME) == ours
        refused = await gql(stock, "{ " + "__typename " * 990 + "}")
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # no budget here


def test_the_tested_versions_are_installed_and_take_the_shortcut() -> None:
    from cdp.graphql import versions
    from cdp.graphql.schema import build_schema

    assert versions.untested(versions.installed()) == []
    assert versions.untested(UNTESTED) == [
        "strawberry-graphql 0.400.0 (tested: <0.342,>=0.341.2)",
        "graphql-core 3.4.0 (tested: <3.4,>=3.3.2)",
    ]
    assert build_schema().execution_context_class is CdpExecutionContext


def test_libraries_lacking_a_private_name_cdp_needs_refuse_to_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cdp.app

    monkeypatch.setattr(cdp.app, "missing_privates", lambda: ["Info._raw_info"])
    with pytest.raises(ConfigError, match=r"lacks Info\._raw_info; install the versions"):
        create_app(settings, keyring=KeyringSource.fixed(TEST_KEYRING))
    assert execution.missing_privates() == []
