"""Reading and checking trusted documents before they are registered or shipped.

A `.graphql` file becomes one document per operation (the operation and the fragments it
spreads, printed by graphql-core: one canonical text, hence one id); a JSON manifest maps
`sha256:<hex>` (or the bare hex, as GraphQL Code Generator's `persisted-documents.json` has
it) to the exact text its hash is of. A document is checked against the schema, with cdp's
limits, and against the policy: a root field closed to a role it is registered for, or a
field the policy denies to every such role, could never answer, and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    print_ast,
    specified_rules,
    validate,
    visit,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from cdp.documents.registry import DOCUMENT_ID, PREFIX, document_id
from cdp.graphql.limits import Limits, validation_rules
from cdp.policy import Access, rule_for
from cdp.roles import Role

ROOTS = frozenset({"Query", "Mutation"})


class DocumentRefused(Exception):
    """A document that cannot be trusted; the message says why, in one line."""


@dataclass(frozen=True)
class Operation:
    """One trusted document: its exact text, holding one operation (and its fragments)."""

    text: str
    name: str | None
    kind: str  # "query" or "mutation"

    @property
    def id(self) -> str:
        return document_id(self.text)

    @property
    def label(self) -> str:
        return self.name or "(anonymous)"


def _parse(text: str) -> DocumentNode:
    try:
        return parse(text, no_location=True)
    except GraphQLError as exc:
        raise DocumentRefused(f"not a GraphQL document: {exc.message}") from None


def _spread_names(node: OperationDefinitionNode | FragmentDefinitionNode) -> Iterator[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    yield from names


def operations_in_source(source: str) -> list[Operation]:
    """Each operation of a `.graphql` file as its own document, with the fragments it uses."""
    document = _parse(source)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise DocumentRefused("the file holds no operation")
    if len(operations) > 1 and any(op.name is None for op in operations):
        raise DocumentRefused("every operation of a file with several needs a name")
    found = []
    for op in operations:
        used: list[str] = []
        pending = list(_spread_names(op))
        while pending:
            name = pending.pop(0)
            if name in used or name not in fragments:
                continue  # an unknown fragment is validation's to report
            used.append(name)
            pending.extend(_spread_names(fragments[name]))
        parts = (op, *(fragments[name] for name in sorted(used)))
        text = print_ast(DocumentNode(definitions=parts))
        found.append(Operation(text, op.name.value if op.name else None, op.operation.value))
    return found


def operation_of(text: str) -> Operation:
    """The document `text` as it is, which must hold exactly one operation."""
    operations = [d for d in _parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise DocumentRefused(f"a trusted document holds one operation, not {len(operations)}")
    op = operations[0]
    return Operation(text, op.name.value if op.name else None, op.operation.value)


def operations_in_manifest(text: str) -> list[Operation]:
    """The documents of a JSON manifest, each under the id its text hashes to."""
    try:
        manifest = json.loads(text)
    except ValueError:
        raise DocumentRefused("the manifest is not JSON") from None
    if not isinstance(manifest, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()
    ):
        raise DocumentRefused('a manifest is a JSON object of "sha256:<hex>" to document text')
    found = []
    for key, value in manifest.items():
        given = key if key.startswith(PREFIX) else PREFIX + key
        if not DOCUMENT_ID.fullmatch(given):
            raise DocumentRefused(f"{key!r} is not a SHA-256 document id")
        operation = operation_of(value)
        if operation.id != given:
            raise DocumentRefused(
                f"{key} is not the SHA-256 of its document ({operation.label} hashes to"
                f" {operation.id})"
            )
        found.append(operation)
    return found


def read_documents(text: str) -> list[Operation]:
    """A file's documents: a JSON manifest when it is one, else GraphQL source."""
    return (
        operations_in_manifest(text)
        if text.lstrip().startswith("{")
        else (operations_in_source(text))
    )


def fields_of(schema: GraphQLSchema, document: DocumentNode) -> list[tuple[str, str]]:
    """(parent type, field) for every field the document selects, in order, once each."""
    seen: dict[tuple[str, str], None] = {}
    info = TypeInfo(schema)

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            parent = info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                seen[(parent.name, node.name.value)] = None

    visit(document, TypeInfoVisitor(info, Fields()))
    return list(seen)


def runnable_by(schema: GraphQLSchema, operation: Operation) -> frozenset[Role]:
    """The roles the policy lets run every root field the document selects: who may run one
    of cdp's own pages' documents."""
    rules = [rule_for(t, f) for t, f in fields_of(schema, _parse(operation.text)) if t in ROOTS]
    return frozenset(
        role
        for role in Role
        if rules and all(r is not None and r.decide(role) is not Access.DENY for r in rules)
    )


@lru_cache(maxsize=8)
def _rules(limits: Limits) -> tuple[type, ...]:
    return (*specified_rules, *validation_rules(limits), NoSchemaIntrospectionCustomRule)


def check(
    schema: GraphQLSchema, operation: Operation, roles: Iterable[Role], limits: Limits
) -> None:
    """DocumentRefused unless `operation` is valid against the schema, within the limits, its
    root fields are open to each of `roles`, and it selects no field the policy denies to every
    one of them."""
    allowed = frozenset(roles)
    if not allowed:
        raise DocumentRefused(f"{operation.label}: no role may run it")
    document = _parse(operation.text)
    errors = validate(schema, document, _rules(limits))
    if errors:
        raise DocumentRefused(f"{operation.label}: {errors[0].message}")
    selected = fields_of(schema, document)
    for role in sorted(allowed - runnable_by(schema, operation)):
        roots = [
            f"{t}.{f}"
            for t, f in selected
            if t in ROOTS and ((rule := rule_for(t, f)) is None or rule.decide(role) is Access.DENY)
        ]
        raise DocumentRefused(
            f"{operation.label}: {', '.join(roots)} is not available to the {role.value} role"
        )
    denied = [
        f"{t}.{f}"
        for t, f in selected
        if (rule := rule_for(t, f)) is None
        or all(rule.decide(role) is Access.DENY for role in allowed)
    ]
    if denied:
        names = ", ".join(sorted(r.value for r in allowed))
        raise DocumentRefused(
            f"{operation.label}: the policy denies {', '.join(denied)} to every role it is"
            f" registered for ({names})"
        )
