"""Profiles per operation: a role's `per_operation` (cdp.policy.ROLE_LIMITS) enforced by one
validation rule, before anything runs.

The rule counts the distinct response keys of `profile` selected at the root of an operation,
through inline fragments and fragment spreads, visiting each fragment once (linear in the
document). One rule class per limit, built once: the validation cache (keyed by the rule
classes) keeps hitting, and caches each role's verdict apart from the others'.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension

from cdp.graphql.limits import limit_error
from cdp.policy import lookup_rule

LOOKUP_FIELD = "profile"
LIMIT_NAME = "lookups"


def root_lookups(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str]:
    """Response keys of the `profile` fields an operation's root selects (the same key twice is
    one execution: fields merge). Each fragment is expanded once."""
    keys: set[str] = set()
    expanded: set[str] = set()
    pending = [selections]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == LOOKUP_FIELD:
                    keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in expanded:
                    expanded.add(name)
                    pending.append(fragment.selection_set)
    return keys


@cache
def lookup_limit_rule(per_operation: int) -> type[ASTValidationRule]:
    """The rule allowing `per_operation` profile lookups; the same class on every call."""

    class LookupLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            count = len(root_lookups(node.selection_set, fragments))
            if count > per_operation:
                plural = "" if per_operation == 1 else "s"
                message = (
                    f"An operation may look up {per_operation} profile{plural}; this one looks"
                    f" up {count}. Send one operation per profile"
                )
                error = limit_error(LIMIT_NAME, message)
                error.extensions["lookups"] = count
                self.report_error(error)

    return LookupLimit


class LookupLimitRule(SchemaExtension):
    """Adds the principal's role's rule to validation, and audits an operation it refused."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        per_operation = lookup_rule(context.principal.role).per_operation
        if per_operation is not None:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                lookup_limit_rule(per_operation),
            )
        yield

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            extensions = error.extensions or {}
            if extensions.get("limit") == LIMIT_NAME:
                self.execution_context.context.uow.trail.record(
                    action="profile.lookup",
                    outcome="query_too_complex",
                    detail={"limit": LIMIT_NAME, "lookups": extensions.get("lookups")},
                )
