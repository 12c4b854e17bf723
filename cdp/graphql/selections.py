"""What the query asks for below the field being resolved, read from graphql-core's syntax
tree: strawberry's `selected_fields` converts the whole subtree, arguments included, on every
call, which a page of orders or a profile's sealed fields need not pay for."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from cdp.graphql.context import Info
from cdp.graphql.execution import resolve_info


def child_fields(info: Info, nodes: Iterable[FieldNode] | None = None) -> list[FieldNode]:
    """The fields selected directly below `nodes` (default: the field being resolved),
    through inline fragments and fragment spreads. Directives are not evaluated: a field
    under @skip counts as asked for, which at worst reads something unused.

    Each fragment is read once, however often it is spread (as graphql-core collects fields):
    fragments that spread each other twice would otherwise cost twice per level. The walk
    keeps its own stack, so no nesting of fragments can exhaust Python's."""
    raw = resolve_info(info)
    found: list[FieldNode] = []
    seen: set[str] = set()
    pending: list[SelectionSetNode] = [
        node.selection_set
        for node in (raw.field_nodes if nodes is None else nodes)
        if node.selection_set is not None
    ]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = raw.fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    pending.append(fragment.selection_set)
    return found


def named(fields: Iterable[FieldNode], name: str) -> list[FieldNode]:
    return [field for field in fields if field.name.value == name]
