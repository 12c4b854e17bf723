"""How a cdp GraphQL object type is written: `object_type`, which is `strawberry.type` with a
description required and the executor's fast-path rule written where a reader meets it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)
Obj = TypeVar("Obj")


@dataclass_transform(
    order_default=False,
    kw_only_default=True,
    field_specifiers=(strawberry.field, StrawberryField),
)
def object_type(name: str | None = None, *, description: str) -> Callable[[T], T]:
    """Declare an output type (`name` in the SDL, `description` for client developers).

    The fast path (cdp/graphql/execution.py): a field that is a plain annotated attribute -
    no resolver method, no `strawberry.field(resolver=...)`, no arguments, and no extension,
    so no policy row that gates, masks or audits it - whose type is a scalar or an enum is
    completed in place, about half the cost of a resolver. So copy a row's plain values onto
    the object in a classmethod `of(row)` (describe them with `strawberry.field(description=)`,
    which keeps them plain), and write a method only for what needs Info, arguments or a
    load, keeping the row as `strawberry.Private` for it.
    """

    def declare(cls: T) -> T:
        return strawberry.type(cls, name=name, description=description)

    return declare


_ATTRIBUTES: dict[type, tuple[str, ...]] = {}


def _attributes(cls: type) -> tuple[str, ...]:
    """The fields of an object type that are attributes (no resolver), Private ones included."""
    names = _ATTRIBUTES.get(cls)
    if names is None:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        names = tuple(f.python_name for f in definition.fields if f.base_resolver is None)
        _ATTRIBUTES[cls] = names
    return names


def copied(cls: type[Obj], source: object, /, **values: Any) -> Obj:
    """An object of type `cls` whose attributes are `source`'s of the same names, but for
    those given in `values` (an id shown as the public id, a value converted, a Private)."""
    given = {name: getattr(source, name) for name in _attributes(cls) if name not in values}
    return cls(**given, **values)
