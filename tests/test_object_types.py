"""One way to write an object type (cdp/graphql/objects.py): plain values copied from the row
by name, described, and completed on the executor's fast path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import strawberry
from graphql import GraphQLObjectType

from cdp.graphql import execution
from cdp.graphql.objects import copied, object_type
from cdp.graphql.schema import build_schema


@object_type("Sample", description="A sample.")
class Sample:
    hidden: strawberry.Private[int]
    id: strawberry.ID = strawberry.field(description="An id.")
    title: str = strawberry.field(description="A title.")

    @strawberry.field(description="Computed.")
    def shout(self) -> str:
        return self.title.upper()


@dataclass
class Row:
    public_id: str
    title: str


def test_an_object_type_copies_a_rows_values_by_name_but_for_those_given() -> None:
    sample = copied(Sample, Row("p-1", "拿铁"), id=strawberry.ID("p-1"), hidden=7)
    assert (sample.id, sample.title, sample.hidden) == ("p-1", "拿铁", 7)


def test_a_private_value_the_row_lacks_must_be_given() -> None:
    with pytest.raises(AttributeError, match="hidden"):
        copied(Sample, Row("p-1", "拿铁"), id=strawberry.ID("p-1"))


@pytest.mark.parametrize(
    "coordinate",
    [
        "Order.totalFen",
        "Coupon.title",
        "PointsEntry.points",
        "Contact.sentAt",
        "ErasureRequest.step",
        "AuditEvent.action",
        "AuditEvent.outcome",
        "ConsentChange.changedAt",
    ],
)
def test_a_described_plain_value_takes_the_fast_path(coordinate: str) -> None:
    type_name, field_name = coordinate.split(".")
    object_type_ = build_schema()._schema.type_map[type_name]
    assert isinstance(object_type_, GraphQLObjectType)
    assert object_type_.fields[field_name].description
    assert execution._plan(object_type_)[field_name] is not None
