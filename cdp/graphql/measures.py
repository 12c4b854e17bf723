"""Depth, aliases and cost of a GraphQL document, in time linear in the document.

Each fragment is measured once and its measure reused at every spread (a document whose
fragments spread each other twice describes exponentially many fields in a few hundred
bytes; expanding the spreads would never finish). The walk keeps its own stack, so no
nesting the parser accepts can exhaust Python's, and a fragment cycle (refused by
graphql-core's NoFragmentCycles) counts as nothing where it closes.

Before parsing, `lexical_excess` counts a document's tokens and how deep its braces and brackets
nest; after parsing, `selection_nesting` follows selection sets through fragment spreads. They
find, with their own numbers, what graphql-core's parser and validation would otherwise refuse
only with a message (cdp/graphql/limits.py turns them into coded errors).

Cost estimates the result's nodes: every field counts 1, and a field taking `first` (a page)
multiplies what is selected below it by `first` (its literal, its variable's value or the
argument's default, at most MAX_FIRST), as graphql-armor's cost limit and Hasura's node limit do.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    Lexer,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    Undefined,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)

from cdp.graphql.pages import MAX_FIRST


@dataclass(frozen=True, slots=True)
class Measure:
    depth: int = 0  # fields on the longest path; introspection fields do not count
    aliases: int = 0  # aliased fields, once per spread of the fragment holding them
    cost: int = 0  # estimated result nodes


NOTHING = Measure()
# What a walk step asks its driver for: a selection set and its type, or a fragment by name.
_Ask: TypeAlias = tuple[SelectionSetNode, Any] | str
_Step: TypeAlias = Generator[_Ask, Measure, Measure]


class DocumentMeasures:
    """Measures of one document's selection sets; `variables` are the request's (None in
    validation, where a page size given by a variable counts as the argument's default)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}
        self._known: dict[str, Measure] = {}

    def of(self, selection_set: SelectionSetNode, parent_type: Any) -> Measure:
        """The measure of `selection_set` selected on `parent_type` (None when unknown)."""
        # A stack of suspended steps, each waiting for the measure of what it asked for.
        stack: list[tuple[_Step, str | None]] = [(self._step(selection_set, parent_type), None)]
        on_stack: set[str] = set()
        answer: Any = None
        while stack:
            step, fragment = stack[-1]
            try:
                ask = step.send(answer)
            except StopIteration as done:
                stack.pop()
                answer = done.value
                if fragment is not None:
                    self._known[fragment] = answer
                    on_stack.discard(fragment)
                continue
            answer = None
            if isinstance(ask, str):
                definition = self.fragments.get(ask)
                if ask in self._known:
                    answer = self._known[ask]
                elif definition is None or ask in on_stack:
                    answer = NOTHING  # unknown, or closing a cycle: validation reports both
                else:
                    on_stack.add(ask)
                    condition = self._type_named(definition.type_condition)
                    stack.append((self._step(definition.selection_set, condition), ask))
            else:
                stack.append((self._step(*ask), None))
        result: Measure = answer
        return result

    def _step(self, selection_set: SelectionSetNode, parent_type: Any) -> _Step:
        depth = aliases = cost = 0
        fields: dict[str, GraphQLField] = getattr(parent_type, "fields", None) or {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                definition = fields.get(name)
                below = NOTHING
                if selection.selection_set is not None:
                    child_type = get_named_type(definition.type) if definition else None
                    below = yield selection.selection_set, child_type
                if not name.startswith("__"):
                    depth = max(depth, 1 + below.depth)
                aliases += (1 if selection.alias else 0) + below.aliases
                cost += 1 + self._page_size(selection, definition) * below.cost
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = yield (
                    selection.selection_set,
                    parent_type if condition is None else self._type_named(condition),
                )
            elif isinstance(selection, FragmentSpreadNode):
                inner = yield selection.name.value
            else:
                continue  # the grammar has no other selection
            # A fragment's fields are the enclosing selection's own: no level of depth.
            depth = max(depth, inner.depth)
            aliases, cost = aliases + inner.aliases, cost + inner.cost
        return Measure(depth, aliases, cost)

    def _type_named(self, node: NamedTypeNode) -> Any:
        return self.schema.get_type(node.name.value)

    def _page_size(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many of what is selected below `node` its result holds: `first`, or 1."""
        argument = definition.args.get("first") if definition else None
        if argument is None:
            return 1
        size: Any = argument.default_value
        for given in node.arguments or ():
            if given.name.value != "first":
                continue
            if isinstance(given.value, IntValueNode):
                size = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                size = self.variables.get(given.value.name.value, size)
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if size is Undefined or not isinstance(size, int) or isinstance(size, bool):
            return MAX_FIRST  # not a number: execution refuses it; until then, the most
        return max(0, min(size, MAX_FIRST))


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


# (schema, document text, operation, the variables' numbers) -> cost, for the same document
# sent again (as the parser and validation caches do); a page size can only be a number.
_COSTS: dict[tuple[Any, ...], int] = {}
_REMEMBERED = 256


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    text: str | None,
) -> int:
    """The estimated result nodes of `operation` with the request's raw `variables`, those
    the request leaves out taking their defaults from the operation."""
    given = {
        definition.variable.name.value: value_from_ast_untyped(definition.default_value)
        for definition in operation.variable_definitions or ()
        if definition.default_value is not None
    }
    given.update(variables or {})
    numbers = tuple(
        sorted((k, v if type(v) in (int, float) else type(v).__name__) for k, v in given.items())
    )
    name = operation.name.value if operation.name else None
    key = (id(schema), text, name, numbers) if text is not None else None
    cost = _COSTS.get(key) if key else None
    if cost is None:
        measures = DocumentMeasures(schema, fragments_of(document), given)
        cost = measures.of(operation.selection_set, schema.get_root_type(operation.operation)).cost
        if key:
            if len(_COSTS) >= _REMEMBERED:
                _COSTS.clear()
            _COSTS[key] = cost
    return cost


_OPENING = (TokenKind.BRACE_L, TokenKind.BRACKET_L)
_CLOSING = (TokenKind.BRACE_R, TokenKind.BRACKET_R)


def lexical_excess(text: str, *, tokens: int, nesting: int) -> tuple[str, int] | None:
    """("tokens", offset) when `text` holds more than `tokens` tokens (comments count, as the
    parser's `max_tokens` counts them), ("nesting", offset) when its braces and brackets nest
    deeper than `nesting`, at the offset of the first token past the limit; None otherwise,
    also when the text does not lex (the parser reports that, where it is)."""
    lexer = Lexer(Source(text))
    count = depth = position = 0
    try:
        while (token := lexer.read_next_token(position)).kind is not TokenKind.EOF:
            position, count = token.end, count + 1
            if count > tokens:
                return "tokens", token.start
            if token.kind in _OPENING:
                depth += 1
                if depth > nesting:
                    return "nesting", token.start
            elif token.kind in _CLOSING:
                depth -= 1
    except GraphQLSyntaxError:
        return None
    return None


def selection_nesting(document: DocumentNode) -> int:
    """How deep selection sets nest in `document`, inline fragments counting a level and a
    spread adding its fragment's nesting where it stands (a cycle adds nothing)."""
    fragments = fragments_of(document)
    known: dict[str, int] = {}

    def own(selection_set: SelectionSetNode) -> tuple[int, list[tuple[str, int]]]:
        deepest, spreads = 0, []
        stack = [(selection_set, 1)]
        while stack:
            current, level = stack.pop()
            deepest = max(deepest, level)
            for selection in current.selections:
                if isinstance(selection, FragmentSpreadNode):
                    spreads.append((selection.name.value, level))
                elif (
                    isinstance(selection, FieldNode | InlineFragmentNode)
                    and selection.selection_set is not None
                ):
                    stack.append((selection.selection_set, level + 1))
        return deepest, spreads

    shapes = {name: own(fragment.selection_set) for name, fragment in fragments.items()}

    def of(name: str) -> int:
        # Depth-first over spreads with an explicit stack; a fragment is resolved once.
        path, on_path = [(name, iter(shapes[name][1]))], {name}
        while path:
            current, pending = path[-1]
            for spread, _level in pending:
                if spread in shapes and spread not in known and spread not in on_path:
                    path.append((spread, iter(shapes[spread][1])))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(current)
                deepest, spreads = shapes[current]
                known[current] = max([deepest, *(level + known.get(s, 0) for s, level in spreads)])
        return known[name]

    result = 0
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            result = max(result, of(definition.name.value))
        elif isinstance(definition, ExecutableDefinitionNode):
            deepest, spreads = own(definition.selection_set)
            nested = (level + of(s) for s, level in spreads if s in shapes)
            result = max(result, deepest, *nested)
    return result
