"""Fragments that spread the next one twice describe 2^n fields in a few hundred bytes: every
measure of a document visits each fragment once, and the server stays responsive."""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
from graphql import OperationDefinitionNode, parse, specified_rules, validate

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.graphql.limits import Limits, validation_rules
from cdp.graphql.measures import DocumentMeasures, fragments_of
from cdp.graphql.schema import build_schema
from cdp.graphql.selections import child_fields
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, make_settings
from tests.loopback import LoopbackServer

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


def test_healthz_answers_promptly_while_fragment_bombs_are_checked(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    token = issue_token(settings, role=Role.CUSTOMER, subject="a-customer")
    answers: list[tuple[int, dict[str, Any], float]] = []

    def send(document: str) -> None:
        started = time.monotonic()
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": document},
            headers={"authorization": f"Bearer {token}"},
            timeout=60,
        )
        answers.append((response.status_code, response.json(), time.monotonic() - started))

    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        # 23 fragments took 19.6 s on the measures as they were; 60 never finished.
        senders = [threading.Thread(target=send, args=(bomb(n),), daemon=True) for n in (23, 60)]
        for sender in senders:
            sender.start()
        time.sleep(0.2)
        for _ in range(5):
            started = time.monotonic()
            health = httpx.get(f"{server.url}/healthz", timeout=5)
            assert health.status_code == 200
            assert time.monotonic() - started < 2  # generous: the machine is shared
        for sender in senders:
            sender.join(10)
    assert len(answers) == 2
    for status, body, seconds in answers:
        assert status == 400 and seconds < 5
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert error["extensions"]["limit"] == "cost"
