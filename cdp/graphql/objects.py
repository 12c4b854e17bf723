"""How a cdp GraphQL object type is written: `object_type`, which is `strawberry.type` with a
description required and the executor's fast-path rule written where a reader meets it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, dataclass_transform

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


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
