"""The identity rules (`CDP_IDENTITY_RULES`, JSON), after Segment's identity resolution: per
identifier type a priority, a limit per profile and blocked values as patterns.

`{"open_id": {"limit": 1, "blocked": ["test_.*"]}, "union_id": {"priority": 1}}`: a type not
given keeps its defaults. Patterns match the whole value (a phone's E.164 form), ignoring case,
beside the built-in placeholders (`cdp.profiles.values`). `{"phone": {"merge": true}}` turns on
merge by verified phone (off by default; unverified phones never merge).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

PATTERN_MAX_LENGTH = 200
PATTERNS_MAX = 50


class IdentifierType(StrEnum):
    """The identifier types the rules speak of; a phone counts only once verified."""

    UNION_ID = "union_id"
    OPEN_ID = "open_id"
    PHONE = "phone"


class IdentifierRule(BaseModel):
    """One type's rule: `priority` (1 first) orders the checks and names the rule a refused
    merge broke; `limit` is how many a profile holds (OpenIDs: per app); `blocked` patterns."""

    model_config = {"frozen": True, "extra": "forbid"}

    priority: int = Field(ge=1, le=100)
    limit: int = Field(default=1, ge=1, le=100)
    blocked: tuple[str, ...] = Field(default=(), max_length=PATTERNS_MAX)

    @field_validator("blocked")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern or len(pattern) > PATTERN_MAX_LENGTH:
                raise ValueError(f"a blocked pattern is 1-{PATTERN_MAX_LENGTH} characters")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"blocked pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        return value


class UnionIdRule(IdentifierRule):
    priority: int = Field(default=1, ge=1, le=100)
    limit: Literal[1] = 1  # a profile holds one UnionID: it is the person across the brand's apps


class OpenIdRule(IdentifierRule):
    priority: int = Field(default=2, ge=1, le=100)


class PhoneRule(IdentifierRule):
    """A verified phone: one per profile. `merge`: a phone verified by a second profile merges
    the two (off: the second is refused and the pair kept for review)."""

    priority: int = Field(default=3, ge=1, le=100)
    limit: Literal[1] = 1
    merge: bool = False


class IdentityRules(BaseModel):
    """The rules of every identifier type; priorities are distinct."""

    model_config = {"frozen": True, "extra": "forbid"}

    union_id: UnionIdRule = UnionIdRule()
    open_id: OpenIdRule = OpenIdRule()
    phone: PhoneRule = PhoneRule()

    @model_validator(mode="after")
    def _distinct_priorities(self) -> IdentityRules:
        priorities = {self.rule(kind).priority for kind in IdentifierType}
        if len(priorities) != len(IdentifierType):
            raise ValueError("each identifier type needs its own priority")
        return self

    def rule(self, kind: IdentifierType) -> IdentifierRule:
        rules: dict[IdentifierType, IdentifierRule] = {
            IdentifierType.UNION_ID: self.union_id,
            IdentifierType.OPEN_ID: self.open_id,
            IdentifierType.PHONE: self.phone,
        }
        return rules[kind]

    def by_priority(self) -> list[IdentifierType]:
        return sorted(IdentifierType, key=lambda kind: self.rule(kind).priority)

    def is_blocked(self, kind: IdentifierType, value: str) -> bool:
        return any(
            re.fullmatch(pattern, value, re.IGNORECASE) for pattern in self.rule(kind).blocked
        )
