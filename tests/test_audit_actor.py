"""Who acts is bound once per unit of work: the trail is made from the principal, its actor is
read-only but for the one explicit switch, and only `audit.set_target` names a target."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cdp
from cdp.audit.trail import AuditTrail
from cdp.auth import Principal, Role

ROOT = Path(cdp.__file__).parent
KEY = b"k" * 32


def test_a_trail_made_of_a_principal_acts_as_its_subject_and_role() -> None:
    trail = AuditTrail.of(Principal("support-7", Role.SUPPORT), key=KEY, request_id="r-1")
    assert (trail.actor_subject, trail.actor_role, trail.request_id) == (
        "support-7",
        "support",
        "r-1",
    )


def test_the_actor_of_a_trail_cannot_be_assigned() -> None:
    trail = AuditTrail.of(Principal("wechat:wx1", Role.CUSTOMER), key=KEY)
    with pytest.raises(AttributeError):
        trail.actor_subject = "someone-else"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        trail.actor_role = "compliance"  # type: ignore[misc]


def test_continuing_as_the_signed_in_customer_switches_the_actor() -> None:
    trail = AuditTrail.of(Principal("wechat:wx1", Role.CUSTOMER), key=KEY)
    trail.continue_as(Principal("c0ffee00-profile", Role.CUSTOMER))
    assert (trail.actor_subject, trail.actor_role) == ("c0ffee00-profile", "customer")


# The trail's own module, and the unit of work that clears the target per mutation.
MAY_WRITE = {"audit/trail.py": {"target", "_actor"}, "unit_of_work.py": {"target"}}
GUARDED = {"target", "actor_subject", "actor_role", "_actor"}


def writes(path: Path) -> set[str]:
    """The guarded attribute names a module assigns on some object."""
    written: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign | ast.AnnAssign)
            else []
        )
        written.update(
            t.attr for t in targets if isinstance(t, ast.Attribute) and t.attr in GUARDED
        )
    return written


def test_no_module_assigns_the_actor_or_the_target_of_a_trail() -> None:
    offenders = sorted(
        f"{name} assigns .{attr}"
        for path in ROOT.rglob("*.py")
        for name in [str(path.relative_to(ROOT))]
        for attr in writes(path) - MAY_WRITE.get(name, set())
    )
    assert offenders == []
