"""cdp's own counts of a document (tokens, nesting of braces and brackets, selections nested
through fragments) refuse exactly where graphql-core's parser and validation would, first and
with a code of their own."""

from __future__ import annotations

import httpx
import pytest
from graphql import GraphQLSyntaxError, build_schema, parse, validate

from cdp.auth import Role
from cdp.graphql.limits import NESTING_CEILING
from cdp.graphql.measures import lexical_excess, selection_nesting
from tests.conftest import ClientFactory

SCHEMA = build_schema("type Query { a: Query b: Int }")


def commented(comments: int) -> str:
    return "{ __typename }\n" + "# a comment\n" * comments  # 3 tokens and the comments


def list_type(levels: int) -> str:
    return "query ($v: " + "[" * levels + "Int" + "]" * levels + ") { __typename }"


def chain(fragments: int, levels: int = 5) -> str:
    """An operation spreading F0, each fragment nesting `levels` fields around the next."""
    body = ["query { ...F0 }"]
    for n in range(fragments):
        inner = f"...F{n + 1}" if n + 1 < fragments else "b"
        body.append(f"fragment F{n} on Query {{ " + "a { " * levels + inner + " }" * levels + " }")
    return "\n".join(body)


def test_comments_count_towards_the_token_limit_as_the_parsers_limit_counts_them() -> None:
    assert lexical_excess(commented(997), tokens=1000, nesting=NESTING_CEILING) is None
    parse(commented(997), max_tokens=1000)
    text = commented(998)
    assert lexical_excess(text, tokens=1000, nesting=NESTING_CEILING) == (
        "tokens",
        text.rindex("# a comment"),
    )
    with pytest.raises(GraphQLSyntaxError):
        parse(text, max_tokens=1000)


def test_braces_and_brackets_nest_to_the_ceiling_and_no_further() -> None:
    ceiling = NESTING_CEILING
    assert lexical_excess(list_type(ceiling), tokens=10_000, nesting=ceiling) is None
    parse(list_type(ceiling))
    text = list_type(ceiling + 1)
    assert lexical_excess(text, tokens=10_000, nesting=ceiling) == ("nesting", 11 + ceiling)
    with pytest.raises(GraphQLSyntaxError):
        parse(text)  # graphql-core's own refusal, which cdp's comes before


def test_a_document_that_does_not_lex_is_left_to_the_parser() -> None:
    assert lexical_excess('{ a(s: "unterminated) }', tokens=5, nesting=1) is None


@pytest.mark.parametrize("fragments", [1, 2, 20, 33, 34, 40, 60])
@pytest.mark.parametrize("levels", [1, 5])
def test_selection_nesting_refuses_exactly_what_graphql_cores_validation_aborts(
    fragments: int, levels: int
) -> None:
    document = parse(chain(fragments, levels))
    aborted = [e for e in validate(SCHEMA, document, []) if "aborted" in e.message]
    assert (selection_nesting(document) > NESTING_CEILING) == bool(aborted)


def test_a_cycle_of_fragments_adds_nothing_where_it_closes() -> None:
    document = parse("{ ...A } fragment A on Query { a { ...B } } fragment B on Query { ...A }")
    assert selection_nesting(document) == 4  # counted as graphql-core counts: 1 + (2 + 1)


async def test_selections_nested_too_deep_through_fragments_are_query_too_complex(
    client_for: ClientFactory,
) -> None:
    client: httpx.AsyncClient = client_for(Role.SERVICE)
    text = chain(35)
    assert selection_nesting(parse(text)) > NESTING_CEILING
    response = await client.post("/graphql", json={"query": text})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "validation"}
    assert "aborted" in error["message"]
