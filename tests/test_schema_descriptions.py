"""The exported SDL speaks for itself: every type, field, argument, input field and enum value
carries a description, and every custom scalar says where it is specified."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    specified_scalar_types,
)

from cdp.graphql.schema import sdl


def exported_schema() -> GraphQLSchema:
    return build_schema(sdl())


def own_types(schema: GraphQLSchema) -> Iterator[GraphQLNamedType]:
    for name, named in schema.type_map.items():
        if not name.startswith("__") and name not in specified_scalar_types:
            yield named


def undescribed(schema: GraphQLSchema) -> Iterator[str]:
    """The coordinates (`Type.field(arg:)`) of every schema element without a description."""
    for named in own_types(schema):
        if not (named.description or "").strip():
            yield named.name
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not (field.description or "").strip():
                    yield f"{named.name}.{field_name}"
                for arg_name, arg in field.args.items():
                    if not (arg.description or "").strip():
                        yield f"{named.name}.{field_name}({arg_name}:)"
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if not (input_field.description or "").strip():
                    yield f"{named.name}.{field_name}"
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if not (value.description or "").strip():
                    yield f"{named.name}.{value_name}"


def test_every_schema_element_has_a_description() -> None:
    missing = list(undescribed(exported_schema()))
    assert missing == [], f"{len(missing)} schema elements have no description: {missing}"


def test_the_description_walk_finds_an_undescribed_argument() -> None:
    schema = build_schema('"""Q"""\ntype Query {\n  """f"""\n  f(a: Int): Int\n}')
    assert list(undescribed(schema)) == ["Query.f(a:)"]


def test_every_custom_scalar_names_its_specification() -> None:
    scalars = [t for t in own_types(exported_schema()) if isinstance(t, GraphQLScalarType)]
    assert {s.name for s in scalars} >= {"BigInt", "Date", "DateTime", "JSON"}
    assert [s.name for s in scalars if not s.specified_by_url] == []
