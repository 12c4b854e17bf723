"""Writing a compiled document's response straight from one read's rows: each response key
a `Node` planned once (cdp.graphql.sql_plan), the policy's decision for it made then, and a
completer for its GraphQL type (null checks, lists, a leaf's serialisation, an object's
fields) built once too.

The policy is applied as `PolicyExtension` applies it: a denied field is null with a
FORBIDDEN error at its path (and a `denied` read when personal), a masked one is masked in
memory from the resolver's value, and each personal read is noted for its profile's audit
record. Reads are noted on the run, not the trail, so that a run that raises `NotCompiled`
leaves the trail as it found it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLString,
    located_error,
)

from cdp.errors import CdpError, ErrorCode
from cdp.graphql.sql_fields import audit_profile_id
from cdp.graphql.sql_readers import NotCompiled, Reader
from cdp.policy import Access
from cdp.roles import Role

Path = tuple[Any, str | int] | None  # (parent path, key): made cheaply, listed on an error
Complete = Callable[[Any, "WriteRun", Path], Any]


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    type_name: str
    name: str
    nodes: tuple[FieldNode, ...]
    read: Reader | None  # None: denied, the resolver never runs
    mask: Callable[[Any], Any] | None
    personal: bool
    non_null: bool
    complete: Complete
    # Fast paths, the same values: a plain attribute read without a call, and a leaf whose
    # serialiser returns a value of this exact type unchanged written as it is.
    attribute: str | None = None
    same: type | None = None


class WriteRun:
    """One request's answer being written: what readers use, the errors, the reads."""

    __slots__ = ("errors", "now", "reads", "role", "thresholds", "vault")

    def __init__(self, *, vault: Any, now: Any, thresholds: Any, role: Role) -> None:
        self.vault = vault
        self.now = now
        self.thresholds = thresholds
        self.role = role
        self.errors: list[GraphQLError] = []
        self.reads: list[tuple[int, str, str]] = []


def listed(path: Path) -> list[str | int]:
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return keys[::-1]


def write_object(nodes: tuple[Node, ...], source: Any, run: WriteRun, path: Path) -> Any:
    out: dict[str, Any] = {}
    for node in nodes:
        attribute = node.attribute
        value = getattr(source, attribute) if attribute is not None else None
        if attribute is None:
            read = node.read
            if read is None:
                _denied(node, source, run, (path, node.key))
                out[node.key] = None
                continue
            value = read(source, run)
        if node.same is not None and type(value) is node.same:
            out[node.key] = value
            continue
        if node.personal:
            masked = node.mask is not None
            run.reads.append(
                (
                    audit_profile_id(node.type_name, source),
                    node.name,
                    "masked" if masked else "full",
                )
            )
            if masked and value is not None:
                value = node.mask(value)  # type: ignore[misc]
        out[node.key] = node.complete(value, run, (path, node.key))
    return out


def _denied(node: Node, source: Any, run: WriteRun, path: Path) -> None:
    if node.non_null:
        raise NotCompiled("a denied non-null field")  # its parent's null: the executor's
    if node.personal:
        run.reads.append((audit_profile_id(node.type_name, source), node.name, "denied"))
    where = f"{node.type_name}.{node.name}"
    error = CdpError(ErrorCode.FORBIDDEN, f"{where} is not available to the {run.role.value} role")
    run.errors.append(located_error(error, list(node.nodes), listed(path)))


def completer(type_: GraphQLOutputType, children: tuple[Node, ...]) -> Complete:
    """How a value of `type_` is written (`children`: an object's fields)."""
    if isinstance(type_, GraphQLNonNull):
        of_type = type_.of_type
        if isinstance(of_type, GraphQLLeafType):  # the commonest: one closure, not two
            serialise = _serialiser(of_type)

            def non_null_leaf(value: Any, run: WriteRun, path: Path) -> Any:
                if value is None:
                    raise NotCompiled("a null at a non-null field")
                return serialise(value)

            return non_null_leaf
        inner = completer(of_type, children)

        def non_null(value: Any, run: WriteRun, path: Path) -> Any:
            if value is None:
                raise NotCompiled("a null at a non-null field")
            return inner(value, run, path)

        return non_null
    if isinstance(type_, GraphQLList):
        item = completer(type_.of_type, children)

        def items(value: Any, run: WriteRun, path: Path) -> Any:
            if value is None:
                return None
            return [item(v, run, (path, i)) for i, v in enumerate(value)]

        return items
    if isinstance(type_, GraphQLLeafType):
        serialise = _serialiser(type_)

        def leaf(value: Any, run: WriteRun, path: Path) -> Any:
            return None if value is None else serialise(value)

        return leaf

    def object_(value: Any, run: WriteRun, path: Path) -> Any:
        return None if value is None else write_object(children, value, run, path)

    return object_


_INT_RANGE = range(-(2**31), 2**31)
# The built-in scalars' serialisers return a value of exactly their own type unchanged.
_SAME_IF: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def same_type(type_: GraphQLOutputType, personal: bool) -> type | None:
    """The Python type a field's values are written unchanged in, when it is a non-null
    built-in scalar that is not personal (a personal one is masked and audited first)."""
    if personal or not isinstance(type_, GraphQLNonNull):
        return None
    return _SAME_IF.get(type_.of_type)


def _serialiser(type_: GraphQLLeafType) -> Callable[[Any], Any]:
    """`type_.coerce_output_value`, with what it would return unchanged returned at once and
    a strawberry enum's member named by a table (strawberry's looks through every value)."""
    coerce = type_.coerce_output_value
    same = _SAME_IF.get(type_)
    wrapped = getattr(type_, "wrapped_cls", None)
    names = (
        {v.value: name for name, v in type_.values.items()}
        if wrapped is not None and isinstance(type_, GraphQLEnumType)
        else None
    )

    def checked(value: Any) -> Any:
        out = coerce(value)
        if out is None:
            raise NotCompiled("a leaf that does not coerce")
        return out

    if same is not None:
        return lambda value: value if type(value) is same else checked(value)
    if type_ is GraphQLInt:
        return lambda value: value if type(value) is int and value in _INT_RANGE else checked(value)
    if names is not None:
        return lambda value: (
            names[value.value] if isinstance(value, wrapped) else checked(value)  # type: ignore[arg-type]
        )
    return checked


def decision_of(rule: Any, role: Role) -> tuple[bool, Callable[[Any], Any] | None]:
    """(denied, mask) of a policy row for `role`; a field without a row is denied."""
    if rule is None:
        return True, None
    decision = rule.decide(role)
    if decision is Access.DENY:
        return True, None
    return False, None if decision is Access.FULL else decision
