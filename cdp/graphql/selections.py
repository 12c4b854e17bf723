"""What the query asks for below the field being resolved, read from graphql-core's syntax
tree: strawberry's `selected_fields` converts the whole subtree, arguments included, on every
call, which a page of orders or a profile's sealed fields need not pay for."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from cdp.graphql.context import Info


def child_fields(info: Info, nodes: Iterable[FieldNode] | None = None) -> list[FieldNode]:
    """The fields selected directly below `nodes` (default: the field being resolved),
    through inline fragments and fragment spreads. Directives are not evaluated: a field
    under @skip counts as asked for, which at worst reads something unused."""
    raw = info._raw_info
    found: list[FieldNode] = []

    def walk(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = raw.fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set)

    for node in raw.field_nodes if nodes is None else nodes:
        walk(node.selection_set)
    return found


def named(fields: Iterable[FieldNode], name: str) -> list[FieldNode]:
    return [field for field in fields if field.name.value == name]
