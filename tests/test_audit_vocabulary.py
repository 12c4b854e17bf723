"""The audit vocabulary (cdp/audit/actions.py) names every action, outcome and role that cdp
records, and the trail refuses an action outside it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.audit.actions import AuditAction, AuditOutcome, AuditRole
from cdp.audit.trail import OPERATOR_ROLE, STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import UNVERIFIED_ROLE, Role
from cdp.erasure.execution import STEPS
from cdp.errors import ErrorCode
from cdp.graphql.enums import ErasureStep
from cdp.graphql.schema import build_schema
from cdp.loyalty.models import EntryKind
from cdp.suppression.models import ErasureRequest

CDP = Path(__file__).resolve().parent.parent / "cdp"


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` assignments (e.g. SIGN_IN_ACTION)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _text(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.IfExp):  # `"erasure.execute" if ... else f"erasure.{step}"`
        return _text(node.body, constants)
    return None


def literals_of(keyword: str) -> Iterator[tuple[str, str]]:
    """(where, text) for every `keyword="text"` argument, `"keyword": "text"` item and (for
    actions) `atomic("text")` call in cdp/: what the code records."""
    for path in sorted(CDP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        where = str(path.relative_to(CDP.parent))
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values += [k.value for k in node.keywords if k.arg == keyword]
                func = node.func
                atomic = isinstance(func, ast.Attribute) and func.attr == "atomic"
                if keyword == "action" and atomic and node.args:
                    values.append(node.args[0])
            elif isinstance(node, ast.Dict):
                values += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == keyword
                ]
            for value in values:
                text = _text(value, constants)
                if text is not None:
                    yield where, text


def test_every_action_recorded_in_cdp_is_an_audit_action() -> None:
    found = list(literals_of("action"))
    assert len(found) > 40  # the walk finds the code's actions (not nothing)
    assert [(where, text) for where, text in found if text not in set(AuditAction)] == []


def test_the_actions_built_at_run_time_are_audit_actions() -> None:
    schema = build_schema()._schema
    refused_roots = [
        f"{root.name.lower()}.{field}"
        for root in (schema.query_type, schema.mutation_type)
        if root is not None
        for field in root.fields
    ]
    points = [f"points.{kind.value.lower()}" for kind in EntryKind]
    erasure = [f"erasure.{step}" for step in STEPS if step != "complete"]
    built = [*refused_roots, *points, *erasure]
    assert [action for action in built if action not in set(AuditAction)] == []


def test_an_unknown_action_cannot_be_recorded() -> None:
    trail = AuditTrail(key=b"k" * 32, actor_subject="someone", actor_role="service")
    with pytest.raises(ValueError, match=r"no\.such"):
        trail.record(action="no.such")
    trail.record(action=AuditAction.PII_READ)
    trail.record(action="export")
    assert [r["action"] for r in trail.take()] == ["pii.read", "export"]


def test_every_outcome_recorded_in_cdp_is_an_audit_outcome() -> None:
    found = list(literals_of("outcome"))
    assert len(found) > 10
    assert [(where, text) for where, text in found if text not in set(AuditOutcome)] == []
    # A refusal is recorded under its error code in lower case.
    assert [code for code in ErrorCode if code.value.lower() not in set(AuditOutcome)] == []


def test_every_role_an_actor_can_have_is_an_audit_role() -> None:
    roles = [*(role.value for role in Role), OPERATOR_ROLE, UNVERIFIED_ROLE, STAFF_SIGN_IN_ROLE]
    assert sorted(roles) == sorted(role.value for role in AuditRole)


def test_the_erasure_steps_are_requested_then_the_executed_steps() -> None:
    assert [step.value for step in ErasureStep] == ["requested", *STEPS]
    default = ErasureRequest.model_fields["step"].default
    assert default == ErasureStep.REQUESTED
