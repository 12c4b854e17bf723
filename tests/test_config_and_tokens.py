"""Settings, bearer tokens and the `cdp` command's handling of both (no database needed)."""

from __future__ import annotations

import os
import secrets
import time
import warnings
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from cdp.auth import Principal, Role, issue_token, principal_from_header, verify_token
from cdp.cli import app
from cdp.config import (
    DEVELOPMENT_JWT_SECRET,
    MIN_SECRET_BITS,
    ConfigError,
    Environment,
    Settings,
    load_settings,
)
from cdp.errors import CdpError, ErrorCode
from cdp.secret_strength import estimated_bits
from tests.conftest import TEST_JWT_SECRET

SECRET = "config-and-tokens-test-secret-0123456789-abcdefghij"
SQLITE_URL = "sqlite+aiosqlite:///unused-by-these-tests.db"


@pytest.fixture
def settings() -> Settings:
    """Shadows the database-backed fixture of conftest: these tests need no database."""
    return load_settings({"CDP_JWT_SECRET": SECRET, "CDP_DATABASE_URL": SQLITE_URL})


def signed(claims: dict[str, Any], *, secret: str = SECRET, algorithm: str = "HS256") -> str:
    now = int(time.time())
    full: dict[str, Any] = {
        "sub": "order-service",
        "role": "service",
        "iat": now,
        "exp": now + 600,
        "iss": "cdp",
    }
    full.update(claims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({k: v for k, v in full.items() if v is not None}, secret, algorithm)


def config_error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    return str(caught.value)


def unauthenticated(settings: Settings, token: str) -> CdpError:
    with pytest.raises(CdpError) as caught:
        verify_token(settings, token)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    return caught.value


# --- settings ---------------------------------------------------------------------------------


def test_defaults_are_a_development_sqlite_setup() -> None:
    settings = load_settings({})
    assert settings.env is Environment.DEVELOPMENT
    assert settings.is_sqlite
    assert not settings.is_production


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://x",
        "postgresql://cdp:pw@db/cdp",
        "postgresql+psycopg2://cdp@db/cdp",
        "sqlite:///var/cdp.db",
        "mysql+aiomysql://cdp@db/cdp",
        "",
        "not a url",
    ],
)
def test_a_database_url_without_an_async_driver_is_one_line_naming_the_variable(
    url: str,
) -> None:
    message = config_error({"CDP_DATABASE_URL": url})
    assert "\n" not in message
    assert "CDP_DATABASE_URL" in message
    assert message.startswith("bad configuration")


def test_a_bad_database_url_is_not_echoed_with_its_password() -> None:
    message = config_error({"CDP_DATABASE_URL": "postgresql://cdp:hunter2-password@db/cdp"})
    assert "hunter2-password" not in message


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"CDP_ENV": "staging"}, "CDP_ENV"),
        ({"CDP_DB_POOL_SIZE": "many"}, "CDP_DB_POOL_SIZE"),
        ({"CDP_DB_POOL_SIZE": "0"}, "CDP_DB_POOL_SIZE"),
        ({"CDP_MAX_TOKEN_TTL_SECONDS": "5"}, "CDP_MAX_TOKEN_TTL_SECONDS"),
    ],
)
def test_other_bad_values_are_one_line_naming_their_variable(
    environ: dict[str, str], variable: str
) -> None:
    message = config_error(environ)
    assert "\n" not in message
    assert variable in message


def test_production_refuses_the_development_jwt_secret() -> None:
    for environ in (
        {"CDP_ENV": "production"},
        {"CDP_ENV": "production", "CDP_JWT_SECRET": DEVELOPMENT_JWT_SECRET},
    ):
        message = config_error(environ)
        assert "\n" not in message
        assert "CDP_JWT_SECRET" in message
        assert DEVELOPMENT_JWT_SECRET not in message


@pytest.mark.parametrize("secret", ["short", "x" * 31, "  " + "y" * 20])
def test_production_refuses_a_short_jwt_secret(secret: str) -> None:
    message = config_error({"CDP_ENV": "production", "CDP_JWT_SECRET": secret})
    assert "\n" not in message
    assert "CDP_JWT_SECRET" in message
    assert secret.strip() not in message


@pytest.mark.parametrize(
    "secret",
    [
        " " * 32,
        "a" * 32,
        "ab" * 16,
        "p" * 40,
        "qwertyuiopasdfghjklzxcvbnm123456",  # a keyboard walk, row by row
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,",  # and column by column
        "abcdefghijklmnopqrstuvwxyz012345",
        "0123456789" * 4,
        "Tr0ub4dor&3" + "Tr0ub4dor&3" * 3,  # one short password pasted four times
    ],
)
def test_production_refuses_a_long_but_guessable_jwt_secret(secret: str) -> None:
    message = config_error({"CDP_ENV": "production", "CDP_JWT_SECRET": secret})
    assert "\n" not in message
    assert "CDP_JWT_SECRET" in message and "too guessable" in message
    assert "secrets.token_urlsafe(32)" in message
    assert secret not in message


def test_production_accepts_what_the_readme_says_to_generate() -> None:
    for _ in range(200):
        for secret in (secrets.token_urlsafe(32), secrets.token_hex(32)):
            settings = load_settings({"CDP_ENV": "production", "CDP_JWT_SECRET": secret})
            assert settings.is_production


def test_the_estimate_counts_patterns_as_one_bit_a_character() -> None:
    assert estimated_bits("") == 0
    assert estimated_bits("a" * 64) < estimated_bits("a" * 32) + 33
    assert estimated_bits(secrets.token_urlsafe(32)) > 150
    # The suite's own secrets are production-fit: tests may run with CDP_ENV=production.
    assert estimated_bits(TEST_JWT_SECRET) >= MIN_SECRET_BITS
    assert estimated_bits(SECRET) >= MIN_SECRET_BITS


def test_production_accepts_a_long_real_secret() -> None:
    settings = load_settings({"CDP_ENV": "production", "CDP_JWT_SECRET": SECRET})
    assert settings.is_production


def test_development_allows_the_development_secret() -> None:
    settings = load_settings({"CDP_ENV": "development"})
    assert settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET


def test_overrides_win_over_the_environment() -> None:
    settings = load_settings({"CDP_DB_POOL_SIZE": "3"}, db_pool_size=7)
    assert settings.db_pool_size == 7


@pytest.mark.parametrize("env", ["development", "production"])
def test_the_jwt_secret_never_shows_in_repr_or_str(env: str) -> None:
    settings = load_settings({"CDP_ENV": env, "CDP_JWT_SECRET": SECRET})
    for shown in (repr(settings), str(settings), f"{settings}", settings.model_dump_json()):
        assert SECRET not in shown
        assert SECRET[:16] not in shown
    assert DEVELOPMENT_JWT_SECRET not in repr(load_settings({}))
    assert DEVELOPMENT_JWT_SECRET not in str(load_settings({}))


def test_a_database_password_never_shows_in_repr_or_str() -> None:
    settings = load_settings(
        {"CDP_DATABASE_URL": "postgresql+asyncpg://cdp:hunter2-password@db.internal/cdp"}
    )
    assert "hunter2-password" not in repr(settings)
    assert "hunter2-password" not in str(settings)


def test_settings_are_frozen(settings: Settings) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance ValidationError
        settings.jwt_secret = "changed"  # type: ignore[assignment,misc]


# --- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_issued_tokens_verify_for_every_role(settings: Settings, role: Role) -> None:
    token = issue_token(settings, role=role, subject=f"{role.value}-subject-1")
    assert verify_token(settings, token) == Principal(subject=f"{role.value}-subject-1", role=role)
    header = principal_from_header(settings, f"Bearer {token}")
    assert header == Principal(subject=f"{role.value}-subject-1", role=role)


def test_six_roles_exist() -> None:
    assert {r.value for r in Role} == {
        "customer",
        "support",
        "analyst",
        "marketer",
        "compliance",
        "service",
    }


def test_an_issued_token_carries_sub_role_and_exp(settings: Settings) -> None:
    token = issue_token(settings, role=Role.SUPPORT, subject="agent-7", ttl_seconds=120)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iss": False})
    assert claims["sub"] == "agent-7"
    assert claims["role"] == "support"
    assert 0 < claims["exp"] - int(time.time()) <= 120
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_an_expired_token_is_refused(settings: Settings) -> None:
    past = int(time.time()) - 3600
    error = unauthenticated(settings, signed({"iat": past - 60, "exp": past}))
    assert "expired" in error.message.lower()


def test_a_token_signed_with_another_secret_is_refused(settings: Settings) -> None:
    unauthenticated(settings, signed({}, secret="some-other-secret-" + "q" * 40))


def test_a_token_from_another_deployment_is_refused(settings: Settings) -> None:
    other = load_settings({"CDP_JWT_SECRET": "another-deployment-secret-" + "w" * 30})
    unauthenticated(settings, issue_token(other, role=Role.SERVICE, subject="svc"))


def test_an_unsigned_alg_none_token_is_refused(settings: Settings) -> None:
    unauthenticated(settings, signed({}, secret="", algorithm="none"))
    # The same claims with the signature stripped off, header still saying HS256.
    token = signed({})
    unauthenticated(settings, token.rsplit(".", 1)[0] + ".")


def test_another_hmac_algorithm_is_refused(settings: Settings) -> None:
    unauthenticated(settings, signed({}, algorithm="HS512"))


@pytest.mark.parametrize("role", ["admin", "root", "SERVICE", "", 7, None])
def test_an_unknown_or_missing_role_is_refused(settings: Settings, role: Any) -> None:
    unauthenticated(settings, signed({"role": role}))


@pytest.mark.parametrize("sub", [None, "", "   ", "s" * 129, 42])
def test_a_missing_or_unusable_subject_is_refused(settings: Settings, sub: Any) -> None:
    unauthenticated(settings, signed({"sub": sub}))


def test_a_token_without_exp_is_refused(settings: Settings) -> None:
    unauthenticated(settings, signed({"exp": None}))


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "....", "Bearer abc", "\u4e2d.\u6587.\u5b57"])
def test_garbage_is_refused(settings: Settings, token: str) -> None:
    unauthenticated(settings, token)


def test_a_token_living_longer_than_the_maximum_is_refused(settings: Settings) -> None:
    now = int(time.time())
    long_lived = signed({"iat": now, "exp": now + settings.max_token_ttl_seconds + 3600})
    unauthenticated(settings, long_lived)


def test_a_far_future_token_without_iat_is_refused(settings: Settings) -> None:
    unauthenticated(settings, signed({"iat": None, "exp": int(time.time()) + 10 * 365 * 86400}))


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer  ", "bearer"])
def test_a_missing_or_foreign_authorization_header_is_refused(
    settings: Settings, header: str | None
) -> None:
    with pytest.raises(CdpError) as caught:
        principal_from_header(settings, header)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED


def test_issuing_refuses_a_ttl_beyond_the_maximum(settings: Settings) -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue_token(
            settings,
            role=Role.SERVICE,
            subject="svc",
            ttl_seconds=settings.max_token_ttl_seconds + 1,
        )
    with pytest.raises(ValueError, match="ttl"):
        issue_token(settings, role=Role.SERVICE, subject="svc", ttl_seconds=0)
    token = issue_token(
        settings, role=Role.SERVICE, subject="svc", ttl_seconds=settings.max_token_ttl_seconds
    )
    assert verify_token(settings, token).role is Role.SERVICE


def test_a_configured_maximum_ttl_is_honoured() -> None:
    settings = load_settings({"CDP_JWT_SECRET": SECRET, "CDP_MAX_TOKEN_TTL_SECONDS": "600"})
    with pytest.raises(ValueError):
        issue_token(settings, role=Role.SUPPORT, subject="a", ttl_seconds=601)
    issue_token(settings, role=Role.SUPPORT, subject="a", ttl_seconds=600)


@pytest.mark.parametrize("subject", ["", "   ", "s" * 129])
def test_issuing_refuses_an_unusable_subject(settings: Settings, subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        issue_token(settings, role=Role.CUSTOMER, subject=subject)


# --- the command line -------------------------------------------------------------------------


def cli_env(**values: str) -> dict[str, str | None]:
    """The runner's environment: only the CDP_ variables given (others from outside unset)."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CDP_")}
    env.update({"CDP_DATABASE_URL": SQLITE_URL, "CDP_JWT_SECRET": SECRET})
    env.update(values)
    return env


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_the_cli_prints_a_token_that_verifies(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["token", "support"], env=cli_env())
    assert result.exit_code == 0, result.output
    principal = verify_token(settings, one_line(result.stdout).strip())
    assert principal.role is Role.SUPPORT


def test_the_cli_prints_a_customer_token_for_a_subject(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["token", "customer", "--subject", "p_abc123", "--ttl", "120"], env=cli_env()
    )
    assert result.exit_code == 0, result.output
    principal = verify_token(settings, one_line(result.stdout).strip())
    assert principal == Principal(subject="p_abc123", role=Role.CUSTOMER)


def test_a_customer_token_needs_a_subject() -> None:
    result = CliRunner().invoke(app, ["token", "customer"], env=cli_env())
    assert result.exit_code != 0
    line = one_line(result.stderr)
    assert line.startswith("cdp:")
    assert "--subject" in line
    assert result.stdout.strip() == ""


def test_the_cli_refuses_a_ttl_beyond_the_maximum() -> None:
    result = CliRunner().invoke(
        app, ["token", "service", "--ttl", str(10 * 365 * 86400)], env=cli_env()
    )
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("cdp:")
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    "args",
    [
        ["token", "support"],
        ["token", "customer", "--subject", "p_1"],
        ["migrate"],
        ["demo-data", "--profiles", "1"],
        ["demo-tokens"],
        ["serve", "--port", "8999"],
    ],
    ids=lambda args: " ".join(args),
)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"CDP_DATABASE_URL": "postgresql://x"}, id="sync-driver"),
        pytest.param(
            {"CDP_ENV": "production", "CDP_JWT_SECRET": DEVELOPMENT_JWT_SECRET},
            id="dev-secret-in-production",
        ),
        pytest.param(
            {"CDP_ENV": "production", "CDP_JWT_SECRET": "tiny-secret"},
            id="short-secret-in-production",
        ),
        pytest.param(
            {"CDP_ENV": "production", "CDP_JWT_SECRET": "a" * 32},
            id="guessable-secret-in-production",
        ),
    ],
)
def test_bad_configuration_stops_every_command_with_one_line(
    args: list[str], bad: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    def must_not_serve(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the server started despite bad configuration")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    result = CliRunner().invoke(app, args, env=cli_env(**bad))
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith("cdp: bad configuration")
    assert "Traceback" not in result.output
    assert "tiny-secret" not in result.output
    assert DEVELOPMENT_JWT_SECRET not in result.output


@pytest.mark.parametrize("keyring", ["missing", "development"])
def test_production_serve_refuses_an_unfit_keyring_with_one_line(
    keyring: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from cdp.crypto import Keyring

    def must_not_serve(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the server started with an unfit keyring")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    path = tmp_path / "keyring.json"
    if keyring == "development":
        Keyring.generate(development=True).save(path)
    env = cli_env(CDP_ENV="production", CDP_KEYRING=str(path))
    result = CliRunner().invoke(app, ["serve", "--port", "8999"], env=env)
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith("cdp: bad configuration: CDP_KEYRING"), line
    assert ("no keyring" if keyring == "missing" else "development keyring") in line
    assert not (keyring == "missing" and path.exists()), "production must not create a keyring"


@pytest.mark.parametrize(
    "role", ["support", "analyst", "marketer", "compliance", "service", "customer"]
)
def test_production_refuses_cdp_token_for_every_role(role: str) -> None:
    args = ["token", role, *(["--subject", "p_abc123"] if role == "customer" else [])]
    result = CliRunner().invoke(app, args, env=cli_env(CDP_ENV="production"))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert one_line(result.stderr).startswith("cdp: token is for development only")


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.COMPLIANCE, Role.SERVICE]
)
def test_production_refuses_staff_and_service_tokens_signed_with_the_shared_secret(
    role: Role,
) -> None:
    development = load_settings({"CDP_ENV": "development", "CDP_JWT_SECRET": SECRET})
    production = load_settings({"CDP_ENV": "production", "CDP_JWT_SECRET": SECRET})
    signed = issue_token(development, role=role, subject="someone")
    assert verify_token(development, signed).role is role
    with pytest.raises(CdpError) as refused:
        verify_token(production, signed)
    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert "/auth/staff/" in refused.value.message


def test_production_still_accepts_a_customer_token_signed_with_the_shared_secret() -> None:
    production = load_settings({"CDP_ENV": "production", "CDP_JWT_SECRET": SECRET})
    signed = issue_token(production, role=Role.CUSTOMER, subject="p_abc123")
    assert verify_token(production, signed) == Principal(subject="p_abc123", role=Role.CUSTOMER)
