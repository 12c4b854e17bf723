"""The schema: every domain's queries and mutations, the policy attached, caches on."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from functools import cache

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.field import StrawberryField

from cdp.graphql.activation import ActivationMutations, ActivationQueries
from cdp.graphql.analytics import AnalyticsQueries
from cdp.graphql.analytics_cells import BigInt
from cdp.graphql.audiences import AudienceMutations, AudienceQueries
from cdp.graphql.audit import AuditQueries
from cdp.graphql.audit_tree import AuditTreeQueries
from cdp.graphql.audit_verification import AuditVerificationQueries
from cdp.graphql.consent import ConsentMutations, ConsentQueries
from cdp.graphql.erasure import ErasureMutations, ErasureQueries
from cdp.graphql.events import EventMutations
from cdp.graphql.execution import execution_context_class, validation_extensions
from cdp.graphql.identity_reviews import IdentityReviewMutations, IdentityReviewQueries
from cdp.graphql.limits import CostLimit, Limits, TokenLimit, validation_rules
from cdp.graphql.lookup_limit import LookupLimitRule
from cdp.graphql.loyalty import LoyaltyMutations
from cdp.graphql.orders import OrderMutations
from cdp.graphql.permissions import apply_policy
from cdp.graphql.privacy import PrivacyMutations, PrivacyQueries
from cdp.graphql.profile_queries import ProfileQueries
from cdp.graphql.profiles import ProfileMutations
from cdp.graphql.staff import StaffMutations, StaffQueries
from cdp.graphql.suppression import SuppressionQueries
from cdp.graphql.tags import TagMutations, TagQueries

# Where each custom scalar is specified (README: "Scalars, for code generators").
SPECIFIED_BY = {
    "BigInt": "https://www.rfc-editor.org/rfc/rfc8259#section-6",
    "Date": "https://www.rfc-editor.org/rfc/rfc3339#section-5.6",
    "DateTime": "https://www.rfc-editor.org/rfc/rfc3339#section-5.6",
}
NO_INTROSPECTION: list[type[ASTValidationRule]] = [NoSchemaIntrospectionCustomRule]
QUERIES: tuple[type, ...] = (
    ProfileQueries,
    TagQueries,
    ConsentQueries,
    AuditQueries,
    AuditVerificationQueries,
    AuditTreeQueries,
    ErasureQueries,
    IdentityReviewQueries,
    SuppressionQueries,
    AnalyticsQueries,
    AudienceQueries,
    ActivationQueries,
    StaffQueries,
    PrivacyQueries,
)
MUTATIONS: tuple[type, ...] = (
    ProfileMutations,
    LoyaltyMutations,
    OrderMutations,
    TagMutations,
    ConsentMutations,
    EventMutations,
    ErasureMutations,
    IdentityReviewMutations,
    StaffMutations,
    AudienceMutations,
    PrivacyMutations,
    ActivationMutations,
)


class CdpSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Errors are logged by the HTTP layer, which knows the request and never logs the
        document or variables (they can carry personal values); strawberry's logger would."""


def _describe_roots(query: type, mutation: type) -> None:
    """The root types' descriptions, and that of the one `input` argument every mutation
    takes (the contract's mutation shape), said once here rather than on each mutation."""
    query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
        "What a client may read; each field says which roles may call it."
    )
    definition = mutation.__strawberry_definition__  # type: ignore[attr-defined]
    definition.description = (
        "What a client may change; each mutation takes one `input` and returns what it "
        "created or changed (null with an error when refused)."
    )
    for field in definition.fields:
        for argument in field.arguments:
            if argument.python_name == "input" and argument.description is None:
                argument.description = "The mutation's input; its fields say what each means."


@cache
def build_schema(*, introspection: bool = True, limits: Limits = Limits()) -> CdpSchema:
    """Built once per process, flag and limits: the parser and validation caches live as long
    as the schema, and the validation rules are the same classes on every request, so the
    validation cache hits."""
    config = StrawberryConfig(
        disable_field_suggestions=True,
        scalar_map={
            BigInt: strawberry.scalar(
                name="BigInt",
                serialize=int,
                parse_value=int,
                description="A 64-bit integer (a JSON number, exact to 2^53): totals of fen.",
                specified_by_url=SPECIFIED_BY["BigInt"],
            ),
            # strawberry's own Date and DateTime (same parsing), with their specifications.
            date: replace(
                DateDefinition,
                description="A calendar day, ISO 8601 / RFC 3339 full-date: 2026-12-01.",
                specified_by_url=SPECIFIED_BY["Date"],
            ),
            datetime: replace(
                DateTimeDefinition,
                description="An instant, RFC 3339 date-time with its offset: "
                "2026-12-01T08:30:00+00:00 (cdp answers in UTC).",
                specified_by_url=SPECIFIED_BY["DateTime"],
            ),
        },
    )
    query = merge_types("Query", QUERIES)
    mutation = merge_types("Mutation", MUTATIONS)
    _describe_roots(query, mutation)

    def graphql_name(field: StrawberryField) -> str:
        return config.name_converter.get_graphql_name(field)

    apply_policy(query, mutation, name_of=graphql_name)
    rules = [*validation_rules(limits), *([] if introspection else NO_INTROSPECTION)]
    return CdpSchema(
        query=query,
        mutation=mutation,
        config=config,
        execution_context_class=execution_context_class(),
        extensions=[
            *validation_extensions(),
            lambda: AddValidationRules(rules),
            LookupLimitRule,
            lambda: TokenLimit(limits.tokens),
            lambda: CostLimit(limits),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
