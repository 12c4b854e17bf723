"""Who may act, and how a directory's groups become roles: the `Role` vocabulary, and the
role map (`CDP_STAFF_ROLE_MAP`) from OIDC group values and WeCom departments and tags."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    ANALYST = "analyst"
    MARKETER = "marketer"
    COMPLIANCE = "compliance"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE})
# Customers sign in through WeChat and services with client credentials: a company directory
# grants every other role, and only those.
NOT_FROM_A_DIRECTORY = frozenset({Role.CUSTOMER, Role.SERVICE})
DIRECTORY_ROLES = tuple(role for role in Role if role not in NOT_FROM_A_DIRECTORY)


def _directory_roles(value: dict[str, list[Role]]) -> dict[str, list[Role]]:
    for key, roles in value.items():
        if not key.strip():
            raise ValueError("a blank group, department or tag name")
        barred = sorted(role.value for role in roles if role in NOT_FROM_A_DIRECTORY)
        if barred:
            raise ValueError(
                f"{key!r} maps to {barred}: a directory grants only"
                f" {[role.value for role in DIRECTORY_ROLES]}"
            )
    return value


class RoleMap(BaseModel):
    """`CDP_STAFF_ROLE_MAP`, e.g. `{"oidc_groups": {"cdp-support": ["support"]},
    "wecom_departments": {"12": ["support"]}, "wecom_tags": {"合规": ["compliance"]}}`.

    A person holds every role any of their groups, departments or tags maps to; nothing
    mapped, no sign-in.
    """

    model_config = {"frozen": True, "extra": "forbid"}

    oidc_groups: dict[str, list[Role]] = Field(default_factory=dict)
    wecom_departments: dict[str, list[Role]] = Field(default_factory=dict)
    wecom_tags: dict[str, list[Role]] = Field(default_factory=dict)

    @field_validator("oidc_groups", "wecom_tags")
    @classmethod
    def _named(cls, value: dict[str, list[Role]]) -> dict[str, list[Role]]:
        return _directory_roles(value)

    @field_validator("wecom_departments")
    @classmethod
    def _department_ids(cls, value: dict[str, list[Role]]) -> dict[str, list[Role]]:
        for key in value:
            if not key.isdigit():
                raise ValueError(f"wecom_departments: {key!r} is not a department id")
        return _directory_roles(value)

    def roles_for(
        self,
        *,
        groups: Iterable[str] = (),
        departments: Iterable[int | str] = (),
        tags: Iterable[str] = (),
    ) -> tuple[Role, ...]:
        """The roles a person's directory memberships grant, in `Role` order, each once."""
        held: set[Role] = set()
        for group in groups:
            held.update(self.oidc_groups.get(group, ()))
        for department in departments:
            held.update(self.wecom_departments.get(str(department), ()))
        for tag in tags:
            held.update(self.wecom_tags.get(tag, ()))
        return tuple(role for role in Role if role in held)
