"""The one mechanism that applies `cdp.policy`: a field extension on every gated field.

`apply_policy` walks the types reachable from the roots before the schema is built, fails on
any field without a row, and attaches `PolicyExtension` only where a row is not FULL for
every role, so open fields cost nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryContainer, StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.private import is_private

from cdp.errors import CdpError, ErrorCode
from cdp.policy import Access, Rule, rule_for

ROOT_TYPES = frozenset({"Query", "Mutation"})


class PolicyError(Exception):
    """The schema has a field the policy table does not cover."""


class PolicyExtension(FieldExtension):
    """Denies, masks and audits one field as its policy row says.

    A denied field never runs its resolver (nothing is read or decrypted). A personal field
    is audited against the profile its parent object belongs to (`audit_profile_id`).
    """

    def __init__(self, type_name: str, field_name: str, rule: Rule) -> None:
        self.type_name = type_name
        self.field_name = field_name
        self.where = f"{type_name}.{field_name}"
        self.rule = rule
        self.root = type_name in ROOT_TYPES

    def _decide(self, source: Any, info: Any) -> Any:
        context = info.context
        role = context.principal.role
        decision = self.rule.decide(role)
        if decision is Access.DENY:
            self._audit(source, context, "denied")
            raise CdpError(
                ErrorCode.FORBIDDEN, f"{self.where} is not available to the {role.value} role"
            )
        return decision

    def _audit(self, source: Any, context: Any, access: str) -> None:
        if self.root:
            if access == "denied":
                context.uow.trail.record(
                    action=f"{self.type_name.lower()}.{self.field_name}", outcome="forbidden"
                )
        elif self.rule.personal:
            context.uow.trail.read(source.audit_profile_id, self.field_name, access)

    def _finish(self, decision: Any, value: Any, source: Any, info: Any) -> Any:
        masked = decision is not Access.FULL
        self._audit(source, info.context, "masked" if masked else "full")
        if not masked or value is None:
            return value
        return decision(value)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        decision = self._decide(source, info)
        value = next_(source, info, **kwargs)
        if isawaitable(value):
            # A sync resolver that had nothing at hand returned an awaitable: finish after it.
            return self._finish_later(decision, value, source, info)
        return self._finish(decision, value, source, info)

    async def _finish_later(
        self, decision: Any, value: Awaitable[Any], source: Any, info: Any
    ) -> Any:
        return self._finish(decision, await value, source, info)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        decision = self._decide(source, info)
        return self._finish(decision, await next_(source, info, **kwargs), source, info)


def _object_definitions(type_: Any) -> Iterator[StrawberryObjectDefinition]:
    while isinstance(type_, StrawberryContainer | LazyType):
        type_ = type_.resolve_type() if isinstance(type_, LazyType) else type_.of_type
    definition = getattr(type_, "__strawberry_definition__", None)
    if isinstance(definition, StrawberryObjectDefinition) and not definition.is_input:
        yield definition


def reachable_fields(*roots: type) -> Iterator[tuple[str, StrawberryField]]:
    """(type name, field) for every output field reachable from the root types."""
    seen: set[str] = set()
    pending = [root.__strawberry_definition__ for root in roots]  # type: ignore[attr-defined]
    while pending:
        definition = pending.pop()
        if definition.name in seen:
            continue
        seen.add(definition.name)
        # A page (`class OrderPage(Page[OrderType])`) types its items by a type variable:
        # resolve it, or the item types would never be walked (and never gated).
        type_vars = definition.specialized_type_var_map or {}
        for field in definition.fields:
            if is_private(field.type):
                continue
            yield definition.name, field
            resolved = field.copy_with(type_vars) if field.is_graphql_generic else field
            pending.extend(_object_definitions(resolved.type))


def apply_policy(*roots: type, name_of: Callable[[StrawberryField], str]) -> None:
    """Attach the policy to every reachable field; PolicyError for a field without a row."""
    missing = []
    for type_name, field in reachable_fields(*roots):
        field_name = name_of(field)
        rule = rule_for(type_name, field_name)
        if rule is None:
            missing.append(f"{type_name}.{field_name}")
        elif rule.needs_mechanism and not any(
            isinstance(ext, PolicyExtension) for ext in field.extensions
        ):
            field.extensions.append(PolicyExtension(type_name, field_name, rule))
    if missing:
        raise PolicyError("fields without a policy row: " + ", ".join(sorted(missing)))
