"""Limits on hostile documents: depth, aliases, tokens and list literals.

The rules are classes built once per `Limits` value (not per request), so the validation
cache, keyed by the rule classes, keeps hitting. Errors carry `extensions.limit` naming the
limit, which the HTTP layer answers with a 4xx status whatever the media type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension

from cdp.config import Settings
from cdp.errors import ErrorCode

TOO_MANY_TOKENS = "Syntax Error: Document contains more than"


@dataclass(frozen=True)
class Limits:
    depth: int = 10
    aliases: int = 15
    tokens: int = 1000
    list_items: int = 100

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            depth=settings.max_query_depth,
            aliases=settings.max_aliases,
            tokens=settings.max_query_tokens,
            list_items=settings.max_list_items,
        )


def limit_error(limit: str, message: str, *, code: ErrorCode = ErrorCode.QUERY_TOO_COMPLEX) -> Any:
    return GraphQLError(message, extensions={"code": code.value, "limit": limit})


class _Walker:
    """Measures selection sets through fragment spreads, each fragment once per path."""

    def __init__(self, context: ValidationContext) -> None:
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def children(self, node: SelectionSetNode | None, seen: frozenset[str]) -> Iterator[Any]:
        """(field, seen) pairs of the fields this selection set selects, fragments expanded;
        a fragment already on the path is skipped (NoFragmentCycles reports the cycle)."""
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode):
                yield selection, seen
            elif isinstance(selection, InlineFragmentNode):
                yield from self.children(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    yield from self.children(fragment.selection_set, seen | {name})

    def depth(self, node: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        deepest = 0
        for field, path in self.children(node, seen):
            if field.name.value.startswith("__"):
                continue  # introspection (GraphiQL's own query nests deep) is not counted
            deepest = max(deepest, 1 + self.depth(field.selection_set, path))
        return deepest

    def aliases(self, node: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        return sum(
            (1 if field.alias else 0) + self.aliases(field.selection_set, path)
            for field, path in self.children(node, seen)
        )


@cache
def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The limit rules for `limits`; the same classes on every call."""

    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = _Walker(self.context).depth(node.selection_set)
            if depth > limits.depth:
                message = f"The query is {depth} levels deep; at most {limits.depth}"
                self.report_error(limit_error("depth", message))

    class AliasLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            count = _Walker(self.context).aliases(node.selection_set)
            if count > limits.aliases:
                message = f"The query uses {count} aliases; at most {limits.aliases}"
                self.report_error(limit_error("aliases", message))

    class ListLimit(ValidationRule):
        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            if len(node.values) > limits.list_items:
                error = limit_error(
                    "list",
                    f"A list argument holds {len(node.values)} items; at most {limits.list_items}",
                    code=ErrorCode.BAD_USER_INPUT,
                )
                error.nodes = [node]
                self.report_error(error)

    return DepthLimit, AliasLimit, ListLimit


def oversized_list(value: Any, limit: int) -> int | None:
    """The length of the first list in JSON `value` longer than `limit`, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if len(item) > limit:
                return len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return None


class TokenLimit(SchemaExtension):
    """Stops the parser after `tokens` tokens (graphql-core counts them as it lexes)."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.tokens
        yield
