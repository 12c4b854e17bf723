"""Compiled execution of trusted queries of `me`: a document is parsed, validated, measured
and planned once (per schema and limits), then per role once more into the plan of one SQL
statement (cdp.graphql.sql_plan: the read, the policy's decision per field, the response
written from the rows, the generic path's audit). What that plan cannot answer exactly runs
by the compiled steps (cdp.graphql.compiled_steps: the same resolvers without graphql-core's
executor), and what they cannot, by the executor, each from a clean trail.

Only what is plain and certain is compiled: query documents selecting `me`, with no
directives or fragments on other types, within the limits. A document with variables is
planned per role and set of variables (a few hundred kept), and has no steps.
tests/test_compiled_documents.py holds every path equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import VariableValues, get_variable_values
from graphql.validation import NoSchemaIntrospectionCustomRule

from cdp.graphql.compiled_steps import Step, execute_steps, steps_of
from cdp.graphql.context import Context
from cdp.graphql.limits import NESTING_CEILING, Limits, validation_rules
from cdp.graphql.measures import lexical_excess, operation_cost, selection_nesting
from cdp.graphql.plans import Planner
from cdp.graphql.sql_plan import SqlPlan, execute_sql, plan_sql
from cdp.graphql.sql_readers import NotCompiled
from cdp.graphql.versions import shortcuts_allowed
from cdp.roles import Role

COMPILED_ROOTS = frozenset({"me"})
PLANS_PER_DOCUMENT = 256  # plans kept per document: one per role and set of variables

__all__ = ["COMPILED_ROOTS", "Compiled", "NotCompiled", "compiled_document", "execute_compiled"]


@dataclass(frozen=True)
class Compiled:
    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    root: GraphQLObjectType
    steps: tuple[Step, ...] | None  # None: a document with variables has no steps
    cost: int | None  # without variables the same on every run; with them, counted per run
    schema: GraphQLSchema
    _plans: dict[Any, SqlPlan | None] = field(default_factory=dict, compare=False, repr=False)

    def sql_plan(self, role: Role, variables: dict[str, Any] | None = None) -> SqlPlan | None:
        """The one-statement plan for `role` (and the request's raw `variables`), made on its
        first request; None for variables that do not coerce (the executor says why)."""
        key = (role, json.dumps(variables, sort_keys=True) if variables else None)
        if key in self._plans:
            return self._plans[key]
        values = None
        if self.operation.variable_definitions:
            coerced = get_variable_values(
                self.schema, self.operation.variable_definitions, variables or {}
            )
            if not isinstance(coerced, VariableValues):
                return None
            values = coerced
        plan = plan_sql(self.schema, self.operation, self.fragments, role, values=values)
        if len(self._plans) >= PLANS_PER_DOCUMENT:
            self._plans.pop(next(iter(self._plans)))  # the oldest: variables are the client's
        self._plans[key] = plan
        return plan


def compiled_document(
    schema: GraphQLSchema, text: str, limits: Limits, introspection: bool
) -> Compiled | None:
    """The compiled form of a trusted query, made once; None when it is not compilable (the
    generic path runs it, and refuses what the limits refuse)."""
    if not shortcuts_allowed():
        return None  # the steps build graphql-core's ResolveInfo as the tested versions have it
    return _compile(schema, text, limits, introspection)


@lru_cache(maxsize=1024)
def _compile(
    schema: GraphQLSchema, text: str, limits: Limits, introspection: bool
) -> Compiled | None:
    if lexical_excess(text, tokens=limits.tokens, nesting=NESTING_CEILING) is not None:
        return None
    document = parse(text, no_location=False, max_tokens=limits.tokens)
    if selection_nesting(document) > NESTING_CEILING:
        return None
    rules = (*specified_rules, *validation_rules(limits))
    if not introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    if validate(schema, document, rules):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return None
    operation = operations[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    assert root is not None
    planner = Planner(schema, fragments)
    roots = {
        nodes[0].name.value for nodes in planner.collect(operation.selection_set, root).values()
    }
    if not planner.static or roots - COMPILED_ROOTS:
        return None
    if operation.variable_definitions:
        # Arguments are known per request: no steps (the executor runs what the one
        # statement cannot), and the cost is counted with the request's variables.
        return Compiled(document, operation, fragments, root, None, None, schema)
    try:
        steps = steps_of(planner, schema, operation.selection_set, root)
    except NotCompiled:
        return None
    cost = operation_cost(schema, document, operation, None, None)
    return Compiled(document, operation, fragments, root, steps, cost, schema)


async def execute_compiled(
    schema: GraphQLSchema,
    compiled: Compiled,
    context: Context,
    variables: dict[str, Any] | None,
    limits: Limits,
) -> ExecutionResult | None:
    """The compiled answer, or None (nothing recorded) when the generic path must run it."""
    role = context.principal.role
    cost = compiled.cost
    if cost is None:
        operation = compiled.operation
        cost = operation_cost(schema, compiled.document, operation, variables, None)
    if cost > limits.cost_for(role):
        return None  # the generic path refuses it, in its words
    plan = compiled.sql_plan(role, variables)
    if plan is not None:
        answer = await execute_sql(plan, context)
        if answer is not None:
            return answer
    if compiled.steps is None:
        return None
    return await execute_steps(
        schema, compiled.steps, compiled.fragments, compiled.operation, context
    )
