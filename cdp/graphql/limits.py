"""Limits on hostile documents: depth, aliases, tokens, nesting, list literals and cost.

The rules are classes built once per `Limits` value (not per request), so the validation
cache, keyed by the rule classes, keeps hitting; cost depends on the variables and the role,
so it is checked per request, after validation and before anything is resolved. Errors carry
`extensions.limit` naming the limit, which the HTTP layer answers with a 4xx status whatever
the media type. Every measure is linear in the document (see `measures`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    ListTypeNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    Source,
    ValidationContext,
    ValidationRule,
    get_operation_ast,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension

from cdp.auth import Role
from cdp.config import Settings
from cdp.errors import ErrorCode
from cdp.graphql.context import Context
from cdp.graphql.execution import core_schema
from cdp.graphql.measures import (
    DocumentMeasures,
    fragments_of,
    lexical_excess,
    operation_cost,
    selection_nesting,
)
from cdp.policy import role_limits

# graphql-core's parser stops at braces and brackets nested deeper than 200, and its validation
# at selections nested deeper than that through fragments, each with nothing but a message:
# cdp refuses both first (QUERY_TOO_COMPLEX, limit "nesting" and "validation").
NESTING_CEILING = 200


@dataclass(frozen=True)
class Limits:
    depth: int = 10
    aliases: int = 15
    tokens: int = 1000
    list_items: int = 100
    cost: int = 10_000
    # List and object literals, and list types, nested deeper than this; no real input nests
    # past three (graphql-core's parser stops at 200, whatever the token limit).
    nesting: int = 10

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            depth=settings.max_query_depth,
            aliases=settings.max_aliases,
            tokens=settings.max_query_tokens,
            list_items=settings.max_list_items,
            cost=settings.max_query_cost,
        )

    def cost_for(self, role: Role | None) -> int:
        """CDP_MAX_QUERY_COST times the role's `query_cost_factor` (cdp.policy.ROLE_LIMITS)."""
        return self.cost * (role_limits(role).query_cost_factor if role is not None else 1)


def limit_error(limit: str, message: str, *, code: ErrorCode = ErrorCode.QUERY_TOO_COMPLEX) -> Any:
    return GraphQLError(message, extensions={"code": code.value, "limit": limit})


@cache
def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The limit rules for `limits`; the same classes on every call."""

    class DepthAndAliasLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.measures = DocumentMeasures(context.schema, fragments_of(context.document))

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            measure = self.measures.of(node.selection_set, root)
            if measure.depth > limits.depth:
                message = f"The query is {measure.depth} levels deep; at most {limits.depth}"
                self.report_error(limit_error("depth", message))
            if measure.aliases > limits.aliases:
                message = f"The query uses {measure.aliases} aliases; at most {limits.aliases}"
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

    class NestingLimit(ValidationRule):
        """Counts open list and object literals and list types as the visitor passes them."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.open = 0

        def enter(self, node: Any, *_: Any) -> None:
            if isinstance(node, ListValueNode | ObjectValueNode | ListTypeNode):
                self.open += 1
                if self.open == limits.nesting + 1:
                    message = f"A value or type nests deeper than {limits.nesting} levels"
                    error = limit_error("nesting", message)
                    error.nodes = [node]
                    self.report_error(error)

        def leave(self, node: Any, *_: Any) -> None:
            if isinstance(node, ListValueNode | ObjectValueNode | ListTypeNode):
                self.open -= 1

    return DepthAndAliasLimits, NestingLimit, ListLimit


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
    """Refuses, before graphql-core parses it, a document of more than `tokens` tokens or
    nested deeper than NESTING_CEILING, and before validation one whose selections nest deeper
    than that through fragments. The parser's own token limit stays on behind it."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.tokens
        yield

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        excess = _lexical_excess(query, self.tokens) if query else None
        if excess is not None:
            limit, offset = excess
            message = (
                f"The document contains more than {self.tokens} tokens; at most {self.tokens}"
                if limit == "tokens"
                else f"The document is nested too deeply: at most {NESTING_CEILING} levels"
                " of braces and brackets"
            )
            raise GraphQLError(
                message,
                source=Source(query or ""),
                positions=[offset],
                extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, "limit": limit},
            )
        yield

    def on_validate(self) -> Iterator[None]:
        run = self.execution_context
        if run.graphql_document is not None and _nesting(run.query, run.graphql_document):
            raise limit_error(
                "validation",
                f"Validation aborted: selections nest more than {NESTING_CEILING} levels"
                " through fragments",
            )
        yield


@lru_cache(maxsize=256)
def _lexical_excess(query: str, tokens: int) -> tuple[str, int] | None:
    return lexical_excess(query, tokens=tokens, nesting=NESTING_CEILING)


_NESTING: dict[str, bool] = {}


def _nesting(query: str | None, document: DocumentNode) -> bool:
    """Whether `document` nests too deeply through fragments (remembered by its text)."""
    found = _NESTING.get(query) if query is not None else None
    if found is None:
        found = selection_nesting(document) > NESTING_CEILING
        if query is not None:
            if len(_NESTING) >= 256:
                _NESTING.clear()
            _NESTING[query] = found
    return found


class CostLimit(SchemaExtension):
    """Refuses, before anything is resolved, an operation whose estimated result (see
    `measures`) is larger than the principal's role may ask for."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_execute(self) -> Iterator[None]:
        refusal = self.refusal()
        if refusal is not None:
            self.execution_context.result = ExecutionResult(data=None, errors=[refusal])
        yield

    def refusal(self) -> GraphQLError | None:
        run = self.execution_context
        document = run.graphql_document
        operation = get_operation_ast(document, run.operation_name) if document else None
        if document is None or operation is None:
            return None  # execution reports it
        schema = core_schema(run.schema)
        cost = operation_cost(schema, document, operation, run.variables, run.query)
        role = run.context.principal.role if isinstance(run.context, Context) else None
        limit = self.limits.cost_for(role)
        if cost <= limit:
            return None
        shown = min(cost, 2**53 - 1)  # what a JSON number holds exactly
        who = f" for the {role.value} role" if role else ""
        error: GraphQLError = limit_error(
            "cost", f"The query could return about {shown} values; at most {limit}{who}"
        )
        assert error.extensions is not None
        error.extensions.update(cost=shown, maxCost=limit)
        return error
