"""Principals and bearer tokens: HS256 JWTs with `sub`, `role` and `exp`."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from cdp.config import Settings
from cdp.errors import CdpError, ErrorCode
from cdp.roles import STAFF_ROLES, Role
from cdp.text import text_fault

__all__ = ["STAFF_ROLES", "Credential", "Principal", "Role", "issue_token", "verify_token"]
MAX_SUBJECT_LENGTH = 128


class Credential(StrEnum):
    """What a request proved who it is with."""

    TOKEN = "token"  # a bearer token: a signed JWT or a service account's token
    SESSION = "session"  # the staff console's session cookie (cdp.staff.credentials)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the token's subject and role, and the kind of credential they showed
    (the console's session runs trusted documents only in production). For a customer the
    subject is a profile id."""

    subject: str
    role: Role
    credential: Credential = Credential.TOKEN


def unauthenticated(message: str) -> CdpError:
    return CdpError(ErrorCode.UNAUTHENTICATED, message)


def issue_token(settings: Settings, *, role: Role, subject: str, ttl_seconds: int = 3600) -> str:
    """A signed bearer token; refuses a TTL beyond the configured maximum."""
    if not 1 <= ttl_seconds <= settings.max_token_ttl_seconds:
        raise ValueError(f"ttl must be between 1 and {settings.max_token_ttl_seconds} seconds")
    if not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError(f"subject must be 1-{MAX_SUBJECT_LENGTH} non-blank characters")
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "iat": now,
        "exp": now + ttl_seconds,
        "iss": settings.jwt_issuer,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


_UNREADABLE = (jwt.InvalidTokenError, TypeError, ValueError, RecursionError)  # PyJWT's int()
_TIME_CLAIMS = ("exp", "iat", "nbf")
UNVERIFIED_ROLE = "unverified"


def _usable_subject(subject: object) -> str | None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        return None
    return subject if text_fault(subject) is None else None


def _decode(settings: Settings, token: str, *, verify_exp: bool = True) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        settings.jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        options={"require": ["sub", "role", "exp"], "verify_exp": verify_exp},
    )
    # PyJWT reads "exp": "1700000000" as a number; our tokens carry integers, nothing else.
    for name in _TIME_CLAIMS:
        if name in claims and (type(claims[name]) is not int):
            raise jwt.InvalidTokenError(f"{name} is not an integer")
    return claims


def verify_token(settings: Settings, token: str) -> Principal:
    """The principal a token names; UNAUTHENTICATED for anything not valid, signed and current."""
    try:
        claims = _decode(settings, token)
    except jwt.ExpiredSignatureError:
        raise unauthenticated("Token expired") from None
    except _UNREADABLE:
        raise unauthenticated("Invalid token") from None
    if claims.get("iss", settings.jwt_issuer) != settings.jwt_issuer:
        raise unauthenticated("Invalid token issuer")
    subject, role = _usable_subject(claims.get("sub")), claims.get("role")
    if subject is None:
        raise unauthenticated("Invalid token subject")
    try:
        parsed_role = Role(role) if isinstance(role, str) else None
    except ValueError:
        parsed_role = None
    if parsed_role is None:
        raise unauthenticated("Unknown role in token")
    if settings.is_production and parsed_role is not Role.CUSTOMER:
        # The shared secret can mint any role: production's staff sign in (cdp/staff/) and
        # services exchange client credentials; only customers' tokens are signed with it.
        raise unauthenticated(
            "Staff and service tokens signed with the shared secret are refused in production:"
            " staff sign in at /auth/staff/, services use POST /auth/token"
        )
    now = int(time.time())
    issued = claims.get("iat", now)
    if claims["exp"] - min(issued, now) > settings.max_token_ttl_seconds:
        raise unauthenticated("Token lifetime exceeds the allowed maximum")
    return Principal(subject=subject, role=parsed_role)


def token_fingerprint(token: str) -> str:
    """How a token whose signature failed is named in the audit log: never by its claims."""
    return "token:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def refused_token_actor(settings: Settings, header: str | None) -> tuple[str, str] | None:
    """(subject, role) to audit a refused token under; None when it is not shaped like ours
    (no JWT naming a subject and one of our roles: noise, not an attempt to act as someone).

    A token we signed (expired, say) names its subject and role; any other is recorded by
    fingerprint with the role `unverified`: its claims are anyone's words.
    """
    if not header or not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    try:
        claimed = jwt.decode(token, options={"verify_signature": False})
    except _UNREADABLE:
        return None
    sub = claimed.get("sub")
    plausible = isinstance(sub, str) and sub.strip() and len(sub) <= MAX_SUBJECT_LENGTH
    if not plausible or claimed.get("role") not in tuple(Role):
        return None
    try:
        signed = _decode(settings, token, verify_exp=False)
    except _UNREADABLE:
        signed = {}
    subject = _usable_subject(signed.get("sub"))
    if subject is None or signed.get("role") not in tuple(Role):
        return token_fingerprint(token), UNVERIFIED_ROLE
    return subject, str(signed["role"])


def principal_from_header(settings: Settings, header: str | None) -> Principal:
    """Parse `Authorization: Bearer <jwt>`; no header or another scheme is UNAUTHENTICATED."""
    if not header:
        raise unauthenticated("Missing bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("Authorization must be 'Bearer <token>'")
    return verify_token(settings, token.strip())
