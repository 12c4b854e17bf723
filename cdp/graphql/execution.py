"""A shorter path through graphql-core for the commonest field of all: a plain attribute
holding a scalar or an enum (an order's total, a coupon's title, a consent's channel).

For every field graphql-core builds a response path and a ResolveInfo, calls the resolver,
checks for an awaitable and walks `complete_value`; a member's `me` has about 800 fields.
A field strawberry resolves by reading an attribute (no resolver and no extension, so never a
field the policy gates, masks or audits) whose type is a scalar or an enum needs none of that:
its answer is the attribute, coerced. Anything else, and any plain field whose value is null
where null is not allowed or does not coerce, takes graphql-core's own path, so every error is
exactly what it would have been.

This module is also the fence: every use of a name strawberry or graphql-core does not
document (private attributes, internal modules and their constants) is here, and nowhere else
in cdp (tests/test_fence.py greps for them). They hold for the versions of
cdp/graphql/versions.py; on others the schema is built with the stock executor and validation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import fields
from functools import partial
from inspect import isawaitable
from operator import attrgetter
from typing import Any, NamedTuple, TypeGuard

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    Undefined,
    ValidationContext,
    VariableValues,
)
from graphql.pyutils import Path, gather_with_cancel
from graphql.validation.validate import ValidationAbortedError
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from cdp.errors import ErrorCode
from cdp.graphql.versions import shortcuts_allowed

STRAWBERRY_FIELD = GraphQLCoreConverter.DEFINITION_BACKREF

_NOT_PLAIN: Any = object()


class _Plain(NamedTuple):
    read: Callable[[Any], Any]
    coerce: Callable[[Any], Any]
    nullable: bool


def _plain_of(field: GraphQLField) -> _Plain | None:
    resolve = field.resolve
    definition = field.extensions.get(STRAWBERRY_FIELD)
    # strawberry's own shortcut for a field without resolver or extension, and nothing else
    # (its `_is_default` marks any field without a resolver, extensions or not).
    basic = (
        isinstance(definition, StrawberryField)
        and definition.is_basic_field
        and getattr(resolve, "__name__", None) == "_get_basic_result"
    )
    if not basic or field.args or resolve is None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type  # type: ignore[union-attr]
    if not isinstance(leaf, GraphQLLeafType):
        return None
    assert isinstance(definition, StrawberryField)
    if definition.default_resolver is getattr:
        read: Callable[[Any], Any] = attrgetter(definition.python_name)
    else:
        read = partial(_resolve_without_info, resolve)
    return _Plain(read, leaf.coerce_output_value, nullable)


def _resolve_without_info(resolve: Callable[..., Any], source: Any) -> Any:
    return resolve(source, None)  # strawberry's basic-field resolver takes no info


# Per object type, field name -> how to read it (None: not plain). Types live as long as the
# schema, which is built once per process.
_PLANS: dict[GraphQLObjectType, dict[str, _Plain | None]] = {}


def _plan(parent_type: GraphQLObjectType) -> dict[str, _Plain | None]:
    plan = _PLANS.get(parent_type)
    if plan is None:
        plan = _PLANS[parent_type] = {
            name: _plain_of(field) for name, field in parent_type.fields.items()
        }
    return plan


def _plain_value(plain: _Plain, source: Any) -> Any:
    """The field's completed value, or _NOT_PLAIN when graphql-core must decide."""
    try:
        value = plain.read(source)
    except Exception:
        return _NOT_PLAIN
    if value is None:
        return None if plain.nullable else _NOT_PLAIN
    try:
        coerced = plain.coerce(value)
    except Exception:
        return _NOT_PLAIN
    return _NOT_PLAIN if coerced is None or coerced is Undefined else coerced


def plain_reader(parent_type: GraphQLObjectType, name: str) -> Callable[[Any], Any] | None:
    """How to complete `parent_type.name` in place when it is a plain leaf attribute (None
    when it is not): the completed value, or NotImplemented when graphql-core must decide."""
    plain = _plan(parent_type).get(name) if shortcuts_allowed() else None
    if plain is None:
        return None

    def read(source: Any) -> Any:
        value = _plain_value(plain, source)
        return NotImplemented if value is _NOT_PLAIN else value

    return read


async def _gather(values: Any) -> list[Any]:
    return list(await gather_with_cancel(*values))


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return isawaitable(value)


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=lambda _value: None)
_NO_VARIABLES = VariableValues(sources={}, coerced={})


def resolve_info_for(
    field: GraphQLField,
    nodes: list[FieldNode],
    parent_type: GraphQLObjectType,
    path: Path,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    context: Any,
) -> GraphQLResolveInfo[Any]:
    """The ResolveInfo graphql-core would give `field`'s resolver, for an operation without
    variables (its fields are those of the versions cdp/graphql/versions.py names)."""
    return GraphQLResolveInfo(
        nodes[0].name.value,
        nodes,
        field.type,
        parent_type,
        path,
        schema,
        fragments,
        None,
        operation,
        _NO_VARIABLES,
        context,
        _is_awaitable,
        None,
        _HELPERS,
    )


class CdpExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, completing plain leaf fields in place."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            self._release()
            return result

        async def finished() -> Any:
            try:
                return await result
            finally:
                self._release()

        return finished()

    def complete_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        # An object (not null, not an error, of the expected type): straight to its fields,
        # past the layers graphql-core keeps for incremental delivery, which cdp has not.
        nullable = not isinstance(return_type, GraphQLNonNull)
        object_type = return_type if nullable else return_type.of_type
        if (
            position_context is None
            and isinstance(object_type, GraphQLObjectType)
            and result is not None
            and not isinstance(result, Exception)
            and (object_type.is_type_of is None or object_type.is_type_of(result, info) is True)
        ):
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(
                object_type, field_details_list
            )
            if not new_defer_usages:
                return self.execute_fields(object_type, result, path, grouped_field_set, None)
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _release(self) -> None:
        # The executor holds itself (its async helpers are its own bound methods), so all it
        # memoised would wait for the garbage collector: a third of a request's garbage.
        self._relevant_sub_fields.clear()

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        if manager is not None and manager._middleware_resolvers:  # a resolver-wrapping extension
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = _plan(parent_type)
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                node = field_details_list[0].node
                plain = None if node.arguments else plan.get(node.name.value)
                if plain is not None:
                    value = _plain_value(plain, source_value)
                    if value is not _NOT_PLAIN:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if self.is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        # The rest as graphql-core does it: the awaitables of this object, together.
        return self._awaited(results, awaitable_fields)

    async def _awaited(self, results: dict[str, Any], awaitable_fields: list[str]) -> Any:
        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results


def execution_context_class() -> type[CdpExecutionContext] | None:
    """The executor for the schema: the shortcut above, or (None) strawberry's stock one when
    the installed libraries are not the tested ones."""
    return CdpExecutionContext if shortcuts_allowed() else None


def resolve_info(info: Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's ResolveInfo behind strawberry's (its field nodes and fragments)."""
    return info._raw_info


def core_schema(schema: Schema) -> GraphQLSchema:
    """graphql-core's schema behind strawberry's."""
    return schema._schema


def missing_privates() -> list[str]:
    """The private names above with no stock replacement that these versions lack."""
    missing = [] if "_raw_info" in {f.name for f in fields(Info)} else ["Info._raw_info"]
    if not isinstance(STRAWBERRY_FIELD, str):
        missing.append("GraphQLCoreConverter.DEFINITION_BACKREF")
    return missing


# graphql-core's overlapping-fields rule charges each comparison of two fields and stops the
# validation past its budget (then QUERY_TOO_COMPLEX, limit "validation"). Its default, 500 000,
# takes up to a second on a document of 1000 tokens, all on the event loop; no document cdp's
# clients or tests send spends more than 10, and 5000 takes some 30 ms.
OVERLAP_BUDGET = 5_000


class OverlapBudgetSpent(ValidationAbortedError):
    def __init__(self) -> None:
        super().__init__(
            f"Validation aborted: the document needs more than {OVERLAP_BUDGET} comparisons"
            " of fields",
            extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, "limit": "validation"},
        )


class BudgetedOverlapRule(OverlappingFieldsCanBeMergedRule):
    """graphql-core's rule on cdp's budget; its abort for the budget carries a code."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = OVERLAP_BUDGET

    def enter_selection_set(
        self, selection_set: SelectionSetNode, key: Any, parent: Any, *args: Any
    ) -> None:
        try:
            super().enter_selection_set(selection_set, key, parent, *args)
        except ValidationAbortedError:
            if self.rule_context.remaining_complexity_budget >= 0:
                raise  # validation's error limit, not the budget
            raise OverlapBudgetSpent() from None


class BudgetedValidation(SchemaExtension):
    """Validates with BudgetedOverlapRule in place of graphql-core's own (the same classes on
    every request, so the validation cache keeps hitting)."""

    def on_operation(self) -> Iterator[None]:
        run = self.execution_context
        run.validation_rules = tuple(
            BudgetedOverlapRule if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in run.validation_rules
        )
        yield


def validation_extensions() -> list[type[SchemaExtension]]:
    return [BudgetedValidation] if shortcuts_allowed() else []
