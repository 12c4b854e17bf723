"""Plans of trusted documents: each document planned once per role, with the policy's decision
for every field it selects (full, masked or denied) made at plan time from the same table
`PolicyExtension` reads at run time.

A plan says what the generic path will do with a document for a role before it runs: which
paths answer FORBIDDEN (a denied field's resolver never runs, so nothing below it is
planned), which values are masked, and which personal fields each profile's audit record will
name and how (tests/test_document_plans.py holds the plans to what it does). `Planner.collect`
is also the field collection of compiled execution: the steps (cdp.graphql.compiled_steps)
and the one-statement plans (cdp.graphql.sql_plan), which make the same decisions from the
same table at plan time and write the answer straight from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
)

from cdp.policy import Access, rule_for
from cdp.roles import Role

Decision = Literal["full", "masked", "denied"]


@dataclass(frozen=True)
class FieldPlan:
    """One response key: the field behind it, the role's decision, and what is below it."""

    key: str
    type_name: str
    field: str
    decision: Decision
    personal: bool
    children: tuple[FieldPlan, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A document's plan for one role. `static` is False when the selection depends on the
    variables (@skip, @include) or on a runtime type (a fragment on another type): such a
    document could not be compiled, and only the generic path may run it."""

    role: Role
    kind: str
    fields: tuple[FieldPlan, ...]
    static: bool

    def denied_paths(self) -> list[tuple[str, ...]]:
        """The response paths (list indices left out) that answer FORBIDDEN."""
        return [path for path, f in self._walk() if f.decision == "denied"]

    def personal_reads(self) -> dict[str, str]:
        """What each profile's `pii.read` record names: field -> full, masked or denied (a
        denial stays, as the trail keeps it), for every personal field below the root."""
        reads: dict[str, str] = {}
        for path, f in self._walk():
            if f.personal and len(path) > 1 and reads.get(f.field) != "denied":
                reads[f.field] = f.decision
        return dict(sorted(reads.items()))

    def _walk(self) -> list[tuple[tuple[str, ...], FieldPlan]]:
        found: list[tuple[tuple[str, ...], FieldPlan]] = []
        pending: list[tuple[tuple[str, ...], FieldPlan]] = [((f.key,), f) for f in self.fields]
        while pending:
            path, plan = pending.pop(0)
            found.append((path, plan))
            pending.extend(((*path, c.key), c) for c in plan.children)
        return found


class Planner:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.static = True

    def collect(
        self, selections: SelectionSetNode, parent: GraphQLObjectType
    ) -> dict[str, list[FieldNode]]:
        """The spec's CollectFields for a known object type: fields by response key."""
        found: dict[str, list[FieldNode]] = {}
        for selection in selections.selections:
            if selection.directives:
                self.static = False  # @skip / @include: the variables decide
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                found.setdefault(key, []).append(selection)
                continue
            condition: NamedTypeNode | None
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                assert isinstance(selection, InlineFragmentNode)
                condition, inner = selection.type_condition, selection.selection_set
            if condition is not None and condition.name.value != parent.name:
                self.static = False
                continue
            for key, nodes in self.collect(inner, parent).items():
                found.setdefault(key, []).extend(nodes)
        return found

    def plan(
        self, selections: SelectionSetNode, parent: GraphQLObjectType, role: Role
    ) -> tuple[FieldPlan, ...]:
        plans = []
        for key, nodes in self.collect(selections, parent).items():
            name = nodes[0].name.value
            if name.startswith("__"):
                plans.append(FieldPlan(key, parent.name, name, "full", False))
                continue
            rule = rule_for(parent.name, name)
            verdict = Access.DENY if rule is None else rule.decide(role)
            decision: Decision = (
                "denied"
                if verdict is Access.DENY
                else "full"
                if verdict is Access.FULL
                else "masked"
            )
            children: tuple[FieldPlan, ...] = ()
            target = get_named_type(parent.fields[name].type)
            if decision != "denied" and isinstance(target, GraphQLObjectType):
                merged = SelectionSetNode(
                    selections=tuple(
                        s for n in nodes if n.selection_set for s in n.selection_set.selections
                    )
                )
                children = self.plan(merged, target, role)
            elif decision != "denied" and nodes[0].selection_set is not None:
                self.static = False  # an interface or union: the runtime type decides
            personal = rule is not None and rule.personal
            plans.append(FieldPlan(key, parent.name, name, decision, personal, children))
        return tuple(plans)


@lru_cache(maxsize=512)
def plan_document(schema: GraphQLSchema, text: str, role: Role) -> Plan:
    """The plan of a trusted document (one operation, valid) for `role`, made once."""
    document = parse(text, no_location=True)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    root = schema.get_root_type(operation.operation)
    assert root is not None
    planner = Planner(schema, fragments)
    fields = planner.plan(operation.selection_set, root, role)
    return Plan(role, operation.operation.value, fields, planner.static)
