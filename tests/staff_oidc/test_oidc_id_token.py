"""The ID token verifier with keys of our own: what a valid token is (RS256, PS256, ES256),
and each thing that makes one invalid (nonce, aud, azp, iss, exp, iat, signature, an unknown
kid, `none` and HS256 signed with the public key), and one JWKS fetch per unknown kid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cdp.staff.oidc import OidcError, OidcFailure
from cdp.staff.oidc_id_token import SigningKeys, groups_claim, verify_id_token

ISSUER = "https://login.example.com/tenant"
CLIENT = "cdp-staff"
NONCE = "a-nonce-of-forty-three-characters-000000000"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        data = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        data = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


class Jwks:
    """A provider's JWKS endpoint: the keys it publishes now, and how often it was asked."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys, self.fetches = list(keys), 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": list(self.keys)}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "00u1a2b3c", "aud": CLIENT, "iat": now, "exp": now + 300}
    base |= {"nonce": NONCE, "groups": ["cdp-support"]}
    return {k: v for k, v in (base | changes).items() if v is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


async def verify(token: str, keys: SigningKeys | Jwks | None = None) -> dict[str, Any]:
    if not isinstance(keys, SigningKeys):
        keys = SigningKeys(keys or Jwks(jwk(RSA_KEY, "k1", "RS256")))
    return await verify_id_token(token, keys=keys, issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


async def refused(token: str, check: str, keys: SigningKeys | Jwks | None = None) -> None:
    with pytest.raises(OidcError) as raised:
        await verify(token, keys)
    assert (raised.value.failure, raised.value.check) == (OidcFailure.ID_TOKEN, check)


@pytest.mark.parametrize(
    ("key", "alg"), [(RSA_KEY, "RS256"), (RSA_KEY, "PS256"), (EC_KEY, "ES256")]
)
async def test_a_valid_id_token_gives_its_claims(key: Any, alg: str) -> None:
    found = await verify(sign(claims(), key, alg, "k2"), Jwks(jwk(key, "k2", alg)))
    assert (found["sub"], found["groups"]) == ("00u1a2b3c", ["cdp-support"])


async def test_an_id_token_with_another_nonce_or_none_is_refused() -> None:
    await refused(sign(claims(nonce="another-nonce")), "nonce")
    await refused(sign(claims(nonce=None)), "nonce")


async def test_an_id_token_for_another_audience_is_refused() -> None:
    await refused(sign(claims(aud="someone-else")), "aud")
    await refused(sign(claims(aud=None)), "aud")


async def test_an_id_token_for_several_audiences_must_name_cdp_as_authorized_party() -> None:
    await refused(sign(claims(aud=[CLIENT, "api"])), "azp")
    await refused(sign(claims(aud=[CLIENT, "api"], azp="api")), "azp")
    assert (await verify(sign(claims(aud=[CLIENT, "api"], azp=CLIENT))))["azp"] == CLIENT


async def test_an_id_token_from_another_issuer_is_refused_even_by_a_trailing_slash() -> None:
    await refused(sign(claims(iss="https://login.example.com/other")), "iss")
    await refused(sign(claims(iss=ISSUER + "/")), "iss")


async def test_an_expired_or_future_id_token_is_refused_beyond_a_minute_of_leeway() -> None:
    now = int(time.time())
    await refused(sign(claims(iat=now - 900, exp=now - 120)), "exp")
    await refused(sign(claims(iat=now + 600, exp=now + 900)), "iat")
    await refused(sign(claims(exp=None)), "exp")
    assert await verify(sign(claims(iat=now - 400, exp=now - 30)))  # within the leeway


async def test_an_id_token_with_a_bad_signature_is_refused() -> None:
    header, _payload, signature = sign(claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="admin")).encode()).rstrip(b"=")
    await refused(f"{header}.{forged.decode()}.{signature}", "signature")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await refused(sign(claims(), other), "signature")


async def test_alg_none_and_hs256_signed_with_the_public_key_are_refused() -> None:
    await refused(jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"}), "alg")
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k1","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    mac = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    await refused(token, "alg")


async def test_a_key_of_another_algorithm_does_not_verify() -> None:
    # The JWKS says k1 is an RS256 key; a token claiming PS256 with it is not verified by it.
    await refused(sign(claims(), RSA_KEY, "PS256", "k1"), "kid")


async def test_an_unknown_kid_fetches_the_jwks_once_more_and_then_is_refused() -> None:
    jwks = Jwks(jwk(RSA_KEY, "k1", "RS256"))
    keys = SigningKeys(jwks)
    await verify(sign(claims()), keys)
    await verify(sign(claims()), keys)
    assert jwks.fetches == 1  # cached
    await refused(sign(claims(), kid="unknown"), "kid", keys)
    assert jwks.fetches == 2  # one more fetch for the unknown kid, not a loop


async def test_a_rotated_key_is_found_by_one_fetch_of_the_jwks() -> None:
    jwks = Jwks(jwk(RSA_KEY, "k1", "RS256"))
    keys = SigningKeys(jwks)
    await verify(sign(claims()), keys)
    jwks.keys = [jwk(EC_KEY, "k2", "ES256")]  # the provider rotated to a new key
    assert await verify(sign(claims(), EC_KEY, "ES256", "k2"), keys)
    assert jwks.fetches == 2


async def test_a_token_without_a_kid_is_verified_only_when_one_key_could_have_signed_it() -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    assert await verify(token, Jwks(jwk(RSA_KEY, "k1", "RS256")))
    two = Jwks(jwk(RSA_KEY, "k1", "RS256"), jwk(RSA_KEY, "k3", "RS256"))
    await refused(token, "kid", two)


async def test_a_jwks_that_is_not_a_key_set_is_an_unusable_answer() -> None:
    async def broken() -> dict[str, Any]:
        return {"keys": "none"}

    with pytest.raises(OidcError) as raised:
        await verify(sign(claims()), SigningKeys(broken))
    assert (raised.value.failure, raised.value.check) == (OidcFailure.ANSWER, "jwks")


def test_groups_are_a_list_of_names_or_one_name_and_nothing_else() -> None:
    assert groups_claim({"groups": ["a", "b"]}) == ["a", "b"]
    assert groups_claim({"groups": "a"}) == ["a"]
    assert groups_claim({"sub": "x"}) is None
    with pytest.raises(OidcError):
        groups_claim({"groups": [{"id": 1}]})
