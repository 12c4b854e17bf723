"""Compiled steps of trusted queries: the fallback of the one-statement execution
(cdp.graphql.sql_plan) for what it cannot answer exactly. A document is planned once into
steps, one per response key, each knowing its field, its coerced arguments, how to read a
plain attribute and how to write a leaf; a request then walks the steps over the resolved
objects, with none of graphql-core's per-field collection, paths or completion layers.

Every resolver and every gated field still runs through strawberry's wrapper, so the policy
(`PolicyExtension`: denials, masks, the audit of personal reads) is applied exactly as on the
generic path; siblings and list items resolve together, so the DataLoaders batch as they do
there. Anything the steps do not know how to answer exactly (a null where the schema says
non-null, a type to decide at run time) raises `NotCompiled`, and the caller runs the generic
path from a clean trail instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    located_error,
)
from graphql.execution import get_argument_values
from graphql.pyutils import Path, gather_with_cancel

from cdp.graphql.context import Context
from cdp.graphql.execution import plain_reader, resolve_info_for
from cdp.graphql.plans import Planner
from cdp.graphql.sql_readers import NotCompiled


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    name: str
    parent: GraphQLObjectType
    field: GraphQLField
    nodes: tuple[FieldNode, ...]
    arguments: dict[str, Any]
    plain: Callable[[Any], Any] | None  # a plain attribute: read it, no resolver
    children: tuple[Step, ...]


def steps_of(
    planner: Planner, schema: GraphQLSchema, selections: Any, parent: GraphQLObjectType
) -> tuple[Step, ...]:
    steps = []
    for key, nodes in planner.collect(selections, parent).items():
        name = nodes[0].name.value
        if name.startswith("__") or name not in parent.fields:
            raise NotCompiled(name)
        field = parent.fields[name]
        inner = field.type
        while isinstance(inner, GraphQLNonNull | GraphQLList):
            inner = inner.of_type
        children: tuple[Step, ...] = ()
        if isinstance(inner, GraphQLObjectType):
            merged = SelectionSetNode(
                selections=tuple(
                    s for n in nodes if n.selection_set for s in n.selection_set.selections
                )
            )
            children = steps_of(planner, schema, merged, inner)
        elif not isinstance(inner, GraphQLLeafType):
            raise NotCompiled(f"{parent.name}.{name}: an abstract type")
        arguments = get_argument_values(field, nodes[0])
        plain = None if nodes[0].arguments else plain_reader(parent, name)
        steps.append(Step(key, name, parent, field, tuple(nodes), arguments, plain, children))
    return tuple(steps)


class _Run:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        context: Context,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.operation = operation
        self.context = context
        self.errors: list[GraphQLError] = []

    def info(self, step: Step, path: Path) -> Any:
        return resolve_info_for(
            step.field,
            list(step.nodes),
            step.parent,
            path,
            self.schema,
            self.fragments,
            self.operation,
            self.context,
        )

    # Values are completed in place; only what a resolver left to await is awaited, together
    # with its siblings (no task per field or item, as graphql-core's executor does it).

    def object(self, steps: tuple[Step, ...], source: Any, path: Path | None) -> Any:
        results: dict[str, Any] = {}
        pending: list[str] = []
        try:
            for step in steps:
                if step.plain is not None:
                    value = step.plain(source)
                    if value is not NotImplemented:
                        results[step.key] = value
                        continue
                value = self.field(step, source, Path(path, step.key, step.parent.name))
                results[step.key] = value
                if isawaitable(value):
                    pending.append(step.key)
        except NotCompiled:
            for key in pending:  # never to be awaited: closed, not left to warn
                results[key].close()
            raise
        return self._object_later(results, pending) if pending else results

    async def _object_later(self, results: dict[str, Any], pending: list[str]) -> Any:
        if len(pending) == 1:
            results[pending[0]] = await results[pending[0]]
        else:
            values = await gather_with_cancel(*(results[key] for key in pending))
            results.update(zip(pending, values, strict=True))
        return results

    def field(self, step: Step, source: Any, path: Path) -> Any:
        try:
            resolve = step.field.resolve
            if resolve is None:
                raise NotCompiled(step.name)
            value = resolve(source, self.info(step, path), **step.arguments)
            if isawaitable(value):
                return self._field_later(step, value, path)
            done = self.complete(step.children, step.field.type, value, path)
            return self._done_later(step, done, path) if isawaitable(done) else done
        except NotCompiled:
            raise
        except Exception as exc:
            return self.failed(step, exc, path)

    async def _field_later(self, step: Step, value: Awaitable[Any], path: Path) -> Any:
        try:
            done = self.complete(step.children, step.field.type, await value, path)
            return (await done) if isawaitable(done) else done
        except NotCompiled:
            raise
        except Exception as exc:
            return self.failed(step, exc, path)

    async def _done_later(self, step: Step, done: Awaitable[Any], path: Path) -> Any:
        try:
            return await done
        except NotCompiled:
            raise
        except Exception as exc:
            return self.failed(step, exc, path)

    def failed(self, step: Step, exc: Exception, path: Path) -> None:
        if isinstance(step.field.type, GraphQLNonNull):
            raise NotCompiled("an error at a non-null field") from exc
        self.errors.append(located_error(exc, list(step.nodes), path.as_list()))

    def complete(self, children: tuple[Step, ...], type_: Any, value: Any, path: Path) -> Any:
        if isinstance(type_, GraphQLNonNull):
            if value is None:
                raise NotCompiled("a null at a non-null field")
            return self.complete(children, type_.of_type, value, path)
        if value is None:
            return None
        if isinstance(value, Exception):
            raise value
        if isinstance(type_, GraphQLList):
            items, pending = [], []
            try:
                for i, item in enumerate(value):
                    done = self.complete(children, type_.of_type, item, Path(path, i, None))
                    items.append(done)
                    if isawaitable(done):
                        pending.append(i)
            except NotCompiled:
                for i in pending:
                    items[i].close()
                raise
            return self._items_later(items, pending) if pending else items
        if isinstance(type_, GraphQLLeafType):
            out = type_.coerce_output_value(value)
            if out is None:
                raise NotCompiled("a leaf that does not coerce")
            return out
        if type_.is_type_of is not None and type_.is_type_of(value, None) is not True:
            raise NotCompiled("an object of another type")
        return self.object(children, value, path)

    async def _items_later(self, items: list[Any], pending: list[int]) -> list[Any]:
        values = await gather_with_cancel(*(items[i] for i in pending))
        for i, value in zip(pending, values, strict=True):
            items[i] = value
        return items


async def execute_steps(
    schema: GraphQLSchema,
    steps: tuple[Step, ...],
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    context: Context,
) -> ExecutionResult | None:
    """The steps' answer, or None (nothing recorded) when the generic path must run it."""
    trail = context.uow.trail
    mark = trail.mark()
    run = _Run(schema, fragments, operation, context)
    try:
        data = run.object(steps, None, None)
        if isawaitable(data):
            data = await data
    except NotCompiled:
        trail.discard_after(mark)
        context.clear_loaders()
        return None
    return ExecutionResult(data=data, errors=run.errors or None)
