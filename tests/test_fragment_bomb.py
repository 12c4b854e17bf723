"""Fragments that spread the next one twice describe 2^n fields in a few hundred bytes: every
measure of a document visits each fragment once, and the server stays responsive."""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
from graphql import OperationDefinitionNode, parse, specified_rules, validate

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from cdp.graphql.limits import Limits, validation_rules
from cdp.graphql.measures import DocumentMeasures, fragments_of
from cdp.graphql.schema import build_schema
from cdp.graphql.selections import child_fields
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING

T = TypeVar("T")


def bomb(fragments: int, leaf: str = "id", on: str = "Profile", root: str = "me") -> str:
    """`{ me { ...F0 } }` where each fragment spreads the next twice and the last selects
    `leaf`: 2^fragments fields when spreads are expanded."""
    chain = " ".join(
        f"fragment F{n} on {on} {{ ...F{n + 1} ...F{n + 1} }}" for n in range(fragments)
    )
    closing = " }" * root.count("{")
    return f"{{ {root} {{ ...F0 }}{closing} }} {chain} fragment F{fragments} on {on} {{ {leaf} }}"


def finishes(work: Callable[[], T], seconds: float = 10) -> T:
    """`work()`'s result, failing (not hanging the suite) when it takes longer than `seconds`:
    the measures as they were never finish on these documents."""
    done: list[T] = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still running after {seconds} s"
    return done[0]


def test_sixty_doubling_fragments_are_measured_in_one_visit_each() -> None:
    schema = build_schema()._schema
    document = parse(bomb(60))
    assert len(bomb(60)) < 3000
    errors = finishes(lambda: validate(schema, document, validation_rules(Limits())))
    assert errors == []  # two levels deep, no aliases: the cost limit refuses it later


def test_aliases_in_a_fragment_bomb_count_every_spread_without_expanding_it() -> None:
    schema = build_schema()._schema
    document = parse(bomb(60, leaf="a: id"))
    errors = finishes(lambda: validate(schema, document, validation_rules(Limits())))
    assert [e.extensions for e in errors] == [{"code": "QUERY_TOO_COMPLEX", "limit": "aliases"}]
    assert f"uses {2**60} aliases" in errors[0].message


def test_every_validation_rule_finishes_on_a_fragment_bomb() -> None:
    schema = build_schema()._schema
    document = parse(bomb(60))
    rules = [*specified_rules, *validation_rules(Limits())]
    assert finishes(lambda: validate(schema, document, rules)) == []


def test_the_cost_of_a_fragment_bomb_is_its_expanded_size() -> None:
    schema = build_schema()._schema
    document = parse(bomb(60))
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    measures = DocumentMeasures(schema, fragments_of(document))
    measure = finishes(lambda: measures.of(operation.selection_set, schema.query_type))
    assert (measure.depth, measure.aliases, measure.cost) == (2, 0, 1 + 2**60)


def test_a_fragment_cycle_is_measured_without_looping() -> None:
    schema = build_schema()._schema
    document = parse(
        "{ me { ...A } } fragment A on Profile { id ...B } fragment B on Profile { x: tier ...A }"
    )
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    measures = DocumentMeasures(schema, fragments_of(document))
    measure = finishes(lambda: measures.of(operation.selection_set, schema.query_type))
    assert (measure.depth, measure.aliases, measure.cost) == (2, 1, 3)


@contextmanager
def shallow_stack() -> Iterator[None]:
    """Python's recursion limit a few dozen frames above the caller's depth."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 40)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_the_walk_keeps_its_own_stack() -> None:
    levels = 190  # graphql-core's parser accepts up to 200
    document = parse("{ me { " + "... on Profile { " * levels + "id" + " }" * levels + " } }")
    [operation] = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    schema = build_schema()._schema
    measures = DocumentMeasures(schema, {})
    with shallow_stack():
        measure = measures.of(operation.selection_set, schema.query_type)
    assert (measure.depth, measure.cost) == (2, 2)


def test_child_fields_reads_each_fragment_once() -> None:
    document = parse(bomb(60, leaf="items { id }", on="OrderPage", root="me { orders"))
    # `me { orders { ...F0 } }`: the fields below `orders` are the resolver's question.
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    orders = operation.selection_set.selections[0].selection_set.selections[0]  # type: ignore[attr-defined]
    info: Any = SimpleNamespace(
        _raw_info=SimpleNamespace(field_nodes=[orders], fragments=fragments_of(document))
    )
    fields = finishes(lambda: child_fields(info))
    assert [field.name.value for field in fields] == ["items"]


def slow_to_validate(n: int) -> str:
    """Just within graphql-core's budget for comparing fields (it compares the 30 `orders`
    pairwise, and their selections); distinct per `n`, so no cache answers it."""
    return f"query Q{n} {{ me {{ " + "orders { items { items { sku } } } " * 30 + "} }"


def test_healthz_answers_promptly_while_hostile_documents_are_checked(settings: Settings) -> None:
    token = issue_token(settings, role=Role.CUSTOMER, subject="a-customer")
    answers: list[tuple[str, int, dict[str, Any]]] = []

    def send(name: str, document: str) -> None:
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": document},
            headers={"authorization": f"Bearer {token}"},
            timeout=60,
        )
        answers.append((name, response.status_code, response.json()))

    # 23 fragments took 19.6 s on the measures as they were, 60 never finished.
    documents = {"bomb 23": bomb(23), "bomb 60": bomb(60)}
    documents |= {f"slow {n}": slow_to_validate(n) for n in range(6)}
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        senders = [
            threading.Thread(target=send, args=item, daemon=True) for item in documents.items()
        ]
        for sender in senders:
            sender.start()
        time.sleep(0.1)
        slowest = 0.0
        for _ in range(5):
            started = time.monotonic()
            health = httpx.get(f"{server.url}/healthz", timeout=5)
            assert health.status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        for sender in senders:
            sender.join(30)
    # Alone it is ~0.2 s; the measures this guards against took 19.6 s or never finished.
    # Generous, because the suite's other worker may be saturating both cores (the bench's
    # smoke test runs servers, wrk and a durable PostgreSQL): seen at 2.9 s then.
    assert slowest < 5
    assert sorted(name for name, _, _ in answers) == sorted(documents)
    for name, status, body in answers:
        if name.startswith("bomb"):
            assert status == 400, body
            [error] = body["errors"]
            assert error["extensions"] == {
                "code": "QUERY_TOO_COMPLEX",
                "limit": "cost",
                "cost": 2**53 - 1 if name == "bomb 60" else 1 + 2**23,
                "maxCost": 10_000,
            }
        else:  # allowed, and answered: the subject has no profile
            assert status == 200 and body["data"] == {"me": None}, body
            assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
