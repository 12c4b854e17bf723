"""The committed SDL, and the policy table covering every field of the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import strawberry
from graphql import GraphQLObjectType

from cdp.auth import Role
from cdp.graphql.permissions import PolicyError, PolicyExtension, apply_policy, reachable_fields
from cdp.graphql.schema import build_schema, sdl
from cdp.policy import POLICY, Access, rule_for

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def schema_fields() -> list[tuple[str, str]]:
    type_map = build_schema()._schema.type_map
    return [
        (type_name, field_name)
        for type_name, graphql_type in type_map.items()
        if isinstance(graphql_type, GraphQLObjectType) and not type_name.startswith("__")
        for field_name in graphql_type.fields
    ]


def test_the_committed_sdl_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == sdl(), (
        "schema/schema.graphql is stale: run `make schema` and commit it"
    )


def test_every_field_of_every_type_has_a_policy_row() -> None:
    missing = [f"{t}.{f}" for t, f in schema_fields() if rule_for(t, f) is None]
    assert missing == []


def test_the_policy_table_names_no_field_the_schema_lacks() -> None:
    fields = set(schema_fields())
    stale = [f"{t}.{f}" for t, rows in POLICY.items() for f in rows if (t, f) not in fields]
    assert stale == []


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MARKETER])
def test_an_analyst_and_a_marketer_are_denied_every_profile_field(role: Role) -> None:
    profile_fields = [f for t, f in schema_fields() if t == "Profile"]
    assert profile_fields
    for field in profile_fields:
        rule = rule_for("Profile", field)
        assert rule is not None and rule.decide(role) is Access.DENY, field


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MARKETER])
def test_an_analyst_and_a_marketer_are_denied_every_order_s_shipping_address(role: Role) -> None:
    rule = rule_for("Order", "shippingAddress")
    assert rule is not None and rule.decide(role) is Access.DENY


def test_the_mechanism_sits_only_on_fields_not_open_to_every_role() -> None:
    schema = build_schema()
    checked = 0
    for type_name, field in reachable_fields(schema.query, schema.mutation):
        rule = rule_for(type_name, schema.config.name_converter.get_graphql_name(field))
        assert rule is not None
        attached = sum(isinstance(ext, PolicyExtension) for ext in field.extensions)
        assert attached == (1 if rule.needs_mechanism else 0), f"{type_name}.{field.name}"
        checked += 1
    assert checked == len(schema_fields())


@strawberry.type
class Secret:
    hidden: str = "x"


@strawberry.type
class LeakyQuery:
    @strawberry.field
    def secret(self) -> Secret:
        return Secret()


def test_a_field_without_a_policy_row_fails_the_schema_build() -> None:
    with pytest.raises(PolicyError, match=r"LeakyQuery\.secret, Secret\.hidden"):
        apply_policy(LeakyQuery, name_of=lambda f: f.name)
