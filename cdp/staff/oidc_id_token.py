"""Verifying an OpenID provider's ID token: the signature against the provider's JWKS (keys
cached, fetched once more when a token names a `kid` the cache lacks), an asymmetric
algorithm from an allow-list, `iss`, `aud` (and `azp`), `exp`, `iat` and the `nonce`.

Failures are `OidcError(ID_TOKEN, check=<what failed>)`: the name of a check, never a value.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from cdp.staff.oidc import OidcError, OidcFailure

# Never `none`, never HS* (whose "key" would be whatever the verifier is handed: with a public
# key, anyone could sign), only what the provider signs with its private key.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LEEWAY_SECONDS = 60
MAX_SUBJECT_LENGTH = 96  # staff_sessions.directory_id
_CHECKS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "exp"),
    (jwt.InvalidAudienceError, "aud"),
    (jwt.InvalidIssuerError, "iss"),
    (jwt.ImmatureSignatureError, "iat"),
    (jwt.InvalidIssuedAtError, "iat"),
    (jwt.InvalidSignatureError, "signature"),
)


def _failed(check: str) -> OidcError:
    return OidcError(OidcFailure.ID_TOKEN, check=check)


class SigningKeys:
    """The provider's JWKS, fetched by `fetch` on first use and again only when a token names
    a key it lacks (the provider rotated its keys): once per token, one fetch at a time."""

    def __init__(self, fetch: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._keys: list[dict[str, Any]] | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    async def _load(self, seen: int) -> list[dict[str, Any]]:
        async with self._lock:
            if self._keys is None or self._generation == seen:
                document = await self._fetch()
                keys = document.get("keys")
                if not isinstance(keys, list):
                    raise OidcError(OidcFailure.ANSWER, check="jwks")
                self._keys = [key for key in keys if isinstance(key, dict)]
                self._generation += 1
            return self._keys

    async def key_for(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        """The key that signed a token with this header; ID_TOKEN (check `kid`) when the
        provider's JWKS has none even after fetching it again."""
        seen, keys = self._generation, self._keys
        if keys is None:
            keys = await self._load(seen)
            seen = self._generation
        found = _pick(keys, kid, algorithm)
        if found is None:
            found = _pick(await self._load(seen), kid, algorithm)
        if found is None:
            raise _failed("kid")
        return found


def _pick(keys: list[dict[str, Any]], kid: str | None, algorithm: str) -> jwt.PyJWK | None:
    usable = []
    for data in keys:
        if data.get("use", "sig") != "sig" or data.get("alg", algorithm) != algorithm:
            continue
        if kid is not None and data.get("kid") != kid:
            continue
        try:
            usable.append(jwt.PyJWK(data, algorithm=algorithm))
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # another key type, or one this machine's cryptography cannot use
    # A token without a kid is verified only when exactly one key could have signed it.
    return usable[0] if len(usable) == 1 or (usable and kid is not None) else None


async def verify_id_token(
    token: str, *, keys: SigningKeys, issuer: str, client_id: str, nonce: str | None
) -> dict[str, Any]:
    """The claims of a valid ID token issued by `issuer` for `client_id`; `nonce` None for a
    refreshed token (OIDC Core 12.2: it carries no new nonce)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _failed("format") from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
        raise _failed("alg")
    if kid is not None and not isinstance(kid, str):
        raise _failed("kid")
    key = await keys.key_for(kid, algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_nbf": True},
        )
    except jwt.MissingRequiredClaimError as missing:
        raise _failed(missing.claim) from None
    except jwt.InvalidTokenError as invalid:
        check = next((name for kind, name in _CHECKS if isinstance(invalid, kind)), "format")
        raise _failed(check) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # OIDC Core 3.1.3.7: with several audiences the token must say it was issued to cdp.
    if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != client_id:
        raise _failed("azp")
    if nonce is not None:
        given = claims.get("nonce")
        if not isinstance(given, str) or not secrets.compare_digest(given, nonce):
            raise _failed("nonce")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise _failed("sub")
    return claims


def groups_claim(claims: dict[str, Any]) -> list[str] | None:
    """The `groups` claim (a list of names, or one name), None when the claims lack it."""
    if "groups" not in claims:
        return None
    value = claims["groups"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return list(value)
    raise OidcError(OidcFailure.ANSWER, check="groups")
