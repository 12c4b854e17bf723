"""Principals and bearer tokens: HS256 JWTs with `sub`, `role` and `exp`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

from cdp.config import Settings
from cdp.errors import CdpError, ErrorCode


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    ANALYST = "analyst"
    COMPLIANCE = "compliance"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE})
MAX_SUBJECT_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the token's subject and role. For a customer the subject is a profile id."""

    subject: str
    role: Role


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


def verify_token(settings: Settings, token: str) -> Principal:
    """The principal a token names; UNAUTHENTICATED for anything not valid, signed and current."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            options={"require": ["sub", "role", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise unauthenticated("Token expired") from None
    except jwt.InvalidTokenError:
        raise unauthenticated("Invalid token") from None
    if claims.get("iss", settings.jwt_issuer) != settings.jwt_issuer:
        raise unauthenticated("Invalid token issuer")
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise unauthenticated("Invalid token subject")
    try:
        parsed_role = Role(str(role))
    except ValueError:
        raise unauthenticated("Unknown role in token") from None
    now = int(time.time())
    issued = claims.get("iat", now)
    if (
        not isinstance(issued, int)
        or claims["exp"] - min(issued, now) > settings.max_token_ttl_seconds
    ):
        raise unauthenticated("Token lifetime exceeds the allowed maximum")
    return Principal(subject=subject, role=parsed_role)


def claimed_principal(header: str | None) -> Principal | None:
    """What an (unverified) bearer token claims to be, if it looks like one of our tokens."""
    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        claims = jwt.decode(header[7:].strip(), options={"verify_signature": False})
        subject, role = claims.get("sub"), Role(str(claims.get("role")))
    except (jwt.InvalidTokenError, ValueError):
        return None
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        return None
    return Principal(subject=subject, role=role)


def principal_from_header(settings: Settings, header: str | None) -> Principal:
    """Parse `Authorization: Bearer <jwt>`; no header or another scheme is UNAUTHENTICATED."""
    if not header:
        raise unauthenticated("Missing bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("Authorization must be 'Bearer <token>'")
    return verify_token(settings, token.strip())
