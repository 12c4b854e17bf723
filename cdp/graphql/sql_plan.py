"""Compiled `me` documents answered by one SQL statement: a document is planned once per
role into `Node`s (cdp.graphql.sql_writer) and the `Wants` of one read
(cdp.readmodel.person); a request then reads the person with that one statement, unwraps
the data keys its sealed values need with one key-store read, and writes the response from
the rows (cdp.graphql.sql_fields), with the audit the generic path records: the lookup of
the profile and each personal field's read, full, masked or denied.

What the plan or the run cannot answer exactly - a field or argument it does not know, a
cursor, a merged-away id or nobody, points due to expire (a write), a key not unwrapped - is
None: the caller runs the document another way, from a trail left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution import get_argument_values
from graphql.execution.values import VariableValues

from cdp.config import Settings
from cdp.crypto import data_key_id_of
from cdp.db import utcnow
from cdp.graphql.context import Context
from cdp.graphql.plans import Planner
from cdp.graphql.sql_fields import FIELDS
from cdp.graphql.sql_readers import Attribute, Need, NotCompiled
from cdp.graphql.sql_writer import Node, WriteRun, completer, decision_of, same_type
from cdp.keys.vault import Vault
from cdp.orders.tiers import TierThresholds
from cdp.policy import rule_for
from cdp.profiles import personal
from cdp.readmodel.person import PersonRead, Wants, read_person
from cdp.roles import Role

SEALED_PROFILE = frozenset({"unionId", "phone", "name", "address", "birthday"})


@dataclass(frozen=True)
class SqlPlan:
    """One document's plan for one role: the root key (`me`), its fields, the read."""

    key: str
    root: Node
    fields: tuple[Node, ...]
    wants: Wants
    profile_keys: bool  # a sealed profile field is read: its data keys are unwrapped
    open_ids: bool
    addresses: bool


def plan_sql(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    role: Role,
    root_field: str = "me",
    values: VariableValues | None = None,
) -> SqlPlan | None:
    """The plan of a query of `me` alone for `role`; None when it cannot be compiled (or
    `me` is denied: the other paths answer and audit the refusal). `root_field` another
    root field answering one Profile: its fields are planned alike (its finding is not).
    `values`: the request's coerced variables, for the arguments that name them."""
    root = schema.query_type
    assert root is not None
    planner = Planner(schema, fragments)
    selected = planner.collect(operation.selection_set, root)
    if len(selected) != 1:
        return None
    [(key, nodes)] = selected.items()
    if nodes[0].name.value != root_field or decision_of(rule_for("Query", root_field), role)[0]:
        return None
    need, used = Need(), set[str]()
    try:
        profile = root.fields[root_field].type
        target = get_named_type(profile)
        assert isinstance(target, GraphQLObjectType)
        fields = _nodes(planner, _merged(nodes), target, role, need, used, values)
    except NotCompiled:
        return None
    if not planner.static:
        return None
    me = Node(
        key, "Query", "me", tuple(nodes), None, None, False, False, completer(profile, fields)
    )
    return SqlPlan(
        key,
        me,
        fields,
        need.wants(),
        profile_keys=bool(used & SEALED_PROFILE),
        open_ids="Identity.openId" in used,
        addresses="Order.shippingAddress" in used,
    )


def _merged(nodes: list[FieldNode]) -> SelectionSetNode:
    return SelectionSetNode(
        selections=tuple(s for n in nodes if n.selection_set for s in n.selection_set.selections)
    )


def _nodes(
    planner: Planner,
    selections: SelectionSetNode,
    parent: GraphQLObjectType,
    role: Role,
    need: Need,
    used: set[str],
    values: VariableValues | None,
) -> tuple[Node, ...]:
    planned = []
    for key, nodes in planner.collect(selections, parent).items():
        name = nodes[0].name.value
        spec = FIELDS.get(parent.name, {}).get(name)
        if spec is None or any(n.directives for n in nodes):
            raise NotCompiled(f"{parent.name}.{name}")
        field = parent.fields[name]
        rule = rule_for(parent.name, name)
        denied, mask = decision_of(rule, role)
        children: tuple[Node, ...] = ()
        read = None
        if not denied:
            try:
                arguments = get_argument_values(field, nodes[0], values)
            except GraphQLError as exc:
                raise NotCompiled("arguments that do not coerce") from exc
            read = spec(arguments, need)
            used.add(name if parent.name == "Profile" else f"{parent.name}.{name}")
            inner = get_named_type(field.type)
            if isinstance(inner, GraphQLObjectType):
                children = _nodes(planner, _merged(nodes), inner, role, need, used, values)
            elif nodes[0].selection_set is not None:
                raise NotCompiled("an abstract type")
        personal = rule is not None and rule.personal
        plain = isinstance(read, Attribute) and not personal
        planned.append(
            Node(
                key,
                parent.name,
                name,
                tuple(nodes),
                read,
                mask,
                personal,
                isinstance(field.type, GraphQLNonNull),
                completer(field.type, children),
                attribute=read.name if plain and isinstance(read, Attribute) else None,
                same=same_type(field.type, personal),
            )
        )
    return tuple(planned)


async def execute_sql(plan: SqlPlan, context: Context) -> ExecutionResult | None:
    """The answer from one read, or None (nothing read is recorded): run it another way."""
    now = utcnow()
    async with context.uow.session() as session:
        read = await read_person(
            session=session, public_id=context.principal.subject, wants=plan.wants, now=now
        )
    if read is None or read.due:
        return None  # nobody or a merged-away id, or points to write off first
    await unwrap_keys(plan, read, context.vault)
    try:
        data, run = write_answer(
            plan, read, context.vault, context.settings, context.principal.role, now
        )
    except NotCompiled:
        return None
    trail = context.uow.trail
    trail.lookup(read.profile.id, None)
    for profile_id, field, access in run.reads:
        trail.read(profile_id, field, access)
    return ExecutionResult(data=data, errors=run.errors or None)


def write_answer(
    plan: SqlPlan, read: PersonRead, vault: Vault, settings: Settings, role: Role, now: datetime
) -> tuple[dict[str, Any], WriteRun]:
    """The response's data from `read`, and the run holding its errors and personal reads;
    NotCompiled when it cannot be written exactly."""
    thresholds = TierThresholds.of(settings)
    run = WriteRun(vault=vault, now=now, thresholds=thresholds, role=role)
    return {plan.key: plan.root.complete(read, run, (None, plan.key))}, run


async def unwrap_keys(plan: SqlPlan, read: PersonRead, vault: Vault) -> None:
    """The data keys of every sealed value the answer decrypts, with one key-store read."""
    blobs: list[Any] = []
    if plan.profile_keys:
        row = read.profile
        blobs.extend(getattr(row, s.column) for s in personal.PROFILE_FIELDS.values())
    if plan.open_ids:
        blobs.extend(i.open_id_ct for i in read.identities)
    if plan.addresses:
        blobs.extend(o.shipping_address_ct for o in read.orders)
    ids = {data_key_id_of(b) for b in blobs if b is not None} - vault.loaded_keys
    if ids:
        await vault.load_keys(None, sorted(ids))
