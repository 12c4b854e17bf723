"""Settings from `CDP_`-prefixed environment variables; bad configuration fails with one line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url

from cdp.activation_config import (
    DEFAULT_CAPS,
    CapRule,
    MessageTemplates,
    QuietHours,
    Trigger,
    Webhooks,
)
from cdp.config_models import (
    ContactCap,
    ContactCaps,
    StaffWecom,
    TencentSms,
    WechatApps,
    WechatAppType,
)
from cdp.identity_rules import IdentityRules
from cdp.roles import Role, RoleMap
from cdp.secret_strength import estimated_bits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
# Known to everyone who reads this file: fine for a laptop, refused in production.
DEVELOPMENT_JWT_SECRET = "cdp-development-only-jwt-secret-do-not-use-in-production"
MIN_SECRET_BITS = 128  # production's JWT secret: what secrets.token_urlsafe(32) clears easily


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigError(Exception):
    """Configuration that cannot run; the message is one line meant for an operator."""


class Settings(BaseSettings):
    """Frozen runtime configuration; secrets are SecretStr so they never show in repr or logs."""

    model_config = SettingsConfigDict(env_prefix="CDP_", frozen=True, extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR / 'cdp.db'}"
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    # The bearer token Prometheus presents to scrape /metrics; unset, /metrics is not served.
    metrics_token: SecretStr | None = None
    jwt_issuer: str = "cdp"
    keyring: Path = DEFAULT_VAR_DIR / "keyring.json"
    # The data keys and the erasure journal, apart from the database and its backups. Unset:
    # keystore.db beside the keyring (development only; production must name its own).
    keystore_url: str | None = None
    # Tokens longer-lived than this are refused by `cdp token` and at verification.
    max_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # `transaction`: PostgreSQL is reached through a pooler in transaction mode (PgBouncer):
    # no prepared statement outlives its transaction and no setting rides on the connection
    # (set the statement timeouts on the role instead: see the README).
    database_pooler: Literal["none", "transaction"] = "none"
    # Redis (redis://host:6379/0, or rediss:// with TLS), shared by every instance: rate
    # budgets. Unset: budgets live in PostgreSQL (or in the process, on SQLite).
    redis_url: SecretStr | None = None
    # A streaming replica (hot standby) for reads that tolerate a little delay: analytics,
    # audience counts, exports. Used while its replay is at most `read_max_lag_seconds` behind;
    # else, and while it does not answer, those reads go to the primary.
    read_database_url: str | None = None
    read_max_lag_seconds: float = Field(default=10.0, ge=0)
    # Longest one SQL statement (or lock wait) may run; 0 is no limit. On PostgreSQL also how
    # long a session may idle inside a transaction; on SQLite how long a writer waits.
    statement_timeout_seconds: float = Field(default=30.0, ge=0, le=3600)
    sql_echo: bool = False
    # JSON, e.g. {"MARKETING": {"limit": 1, "hours": 24}}; a purpose not named has no cap.
    contact_caps: ContactCaps = Field(
        default_factory=lambda: {"MARKETING": ContactCap(limit=1, hours=24)}
    )
    # The sealer inside `cdp serve` (0: none here, `cdp audit seal --follow` runs elsewhere).
    audit_seal_interval_seconds: float = Field(default=0.5, ge=0, le=60)
    # A cell of fewer distinct people than this is suppressed (never below 5).
    analytics_min_group_size: int = Field(default=10, ge=5, le=1000)
    analytics_timezone: str = "Asia/Shanghai"  # where a reporting day begins and ends
    # How often `cdp serve` releases the closed days of every series measure (the first
    # round a minute after start); 0: only `cdp analytics release`.
    analytics_release_interval_hours: float = Field(default=6.0, ge=0, le=168)
    # How often the audience updater looks for people queued by another process (a commit in
    # its own process wakes it at once); 0 turns the updater off in `cdp serve`.
    audience_update_poll_seconds: float = Field(default=1.0, ge=0, le=300)
    erasure_due_days: int = Field(default=15, ge=1, le=90)  # PIPL practice: 15 working days
    # The customer's privacy centre: the one-use link to download one's data, how many a
    # person may ask for in a day, the cooling-off before a cancelled account is erased, and
    # the erasure mode a cancellation runs in.
    my_data_link_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    my_data_exports_per_day: int = Field(default=5, ge=1, le=100)
    account_cooling_off_days: int = Field(default=15, ge=0, le=90)
    account_cancellation_mode: Literal["DELETE", "ANONYMIZE"] = "DELETE"
    # How often `cdp serve` runs the cancellations whose cooling-off has ended (0: never here;
    # `cdp erasure run-due` does it), and how often one `cdp worker` of the deployment runs
    # retention (hours; 0: only `cdp retention run`).
    privacy_worker_poll_seconds: float = Field(default=60.0, ge=0, le=3600)
    retention_interval_hours: float = Field(default=24.0, ge=0, le=24 * 31)
    # Retention, per kind of data (PIPL Art. 19): 0 keeps that kind for ever.
    retention_events_months: int = Field(default=13, ge=0, le=240)
    retention_contacts_months: int = Field(default=6, ge=0, le=240)
    retention_orders_years: int = Field(default=3, ge=0, le=30)  # E-commerce Law Art. 31
    retention_audit_years: int = Field(default=3, ge=0, le=30)
    retention_inactive_member_years: int = Field(default=0, ge=0, le=30)  # 0: off
    points_lifetime_days: int = Field(default=365, ge=1, le=3650)
    tier_vip_fen: int = Field(default=100_000, ge=1)  # ¥1,000 paid in 12 months
    tier_supreme_fen: int = Field(default=500_000, ge=1)  # ¥5,000
    log_level: str = "INFO"
    # Hostile-input limits (OWASP GraphQL cheat sheet; graphql-armor's defaults are close).
    max_query_depth: int = Field(default=10, ge=2, le=50)
    max_aliases: int = Field(default=15, ge=1, le=500)
    max_query_tokens: int = Field(default=1000, ge=50, le=100_000)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_json_depth: int = Field(default=64, ge=4, le=500)  # arrays and objects in a body
    max_list_items: int = Field(default=100, ge=1, le=10_000)  # every list argument and page
    operation_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Estimated result nodes an operation may ask for (a field counts 1, times the `first` of
    # each page above it); a role's limit is this times its factor in cdp.policy.ROLE_LIMITS.
    max_query_cost: int = Field(default=10_000, ge=100, le=10_000_000)
    # A larger answer is replaced by an error, and a mutation's changes are not committed.
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # Roles that may run trusted documents only ({"documentId": ...}), comma-separated;
    # production always adds the customer (`trusted_only_roles`).
    trusted_documents_only: tuple[Role, ...] = ()
    # Run the trusted queries that can be compiled (cdp.graphql.compiled) by their compiled
    # steps; false: every document through graphql-core's executor.
    compiled_documents: bool = True
    # Requests per principal per minute (a token bucket that refills continuously); 0 is off.
    rate_limit_per_minute: int = Field(default=1200, ge=0, le=1_000_000)
    # Not-found profile lookups per staff actor (roles with `misses_capped`) in a sliding
    # window, shared by every worker; past it their lookups are refused until misses age out.
    lookup_miss_limit: int = Field(default=30, ge=1, le=100_000)
    lookup_miss_window_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # This many of one actor's misses in the window sharing a phone's masked digits are flagged.
    lookup_pattern_flag: int = Field(default=3, ge=2, le=100_000)
    # WeChat sign-in. The brand's apps keyed by AppID, as JSON: {"wx8f3c2a1b5d6e7f90":
    # {"type": "MINI_PROGRAM", "secret": "..."}, "wx...": {"type": "OFFICIAL_ACCOUNT",
    # "secret": "...", "oauth_scope": "snsapi_userinfo"}}.
    wechat_apps: WechatApps = Field(default_factory=dict)
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    # Website apps' QR sign-in page (Open Platform, snsapi_login).
    wechat_qrconnect_url: str = "https://open.weixin.qq.com/connect/qrconnect"
    # Where WeChat sends the browser back (in the account's web authorisation domain); unset:
    # the scheme and host the authorize request came to.
    wechat_redirect_base_url: str | None = None
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    wechat_busy_retries: int = Field(default=2, ge=0, le=5)  # further tries after "system busy"
    wechat_backoff_seconds: float = Field(default=0.2, ge=0, le=5)  # doubled on each retry
    # Message push (GET/POST /wechat/push/{appId}): a push whose timestamp is further than
    # this from now is refused as a replay; bodies above the size are refused unread.
    wechat_push_window_seconds: int = Field(default=300, ge=30, le=3600)
    wechat_push_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    # How often the push processor looks for accepted messages it was not told of (another
    # worker's, or left by a crash); each accept wakes it at once in its own process.
    wechat_push_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    # Development only: `cdp serve` starts a WeChat stand-in on 127.0.0.1 at this port and
    # points the WeChat URLs (and, when none are configured, demo apps) at it
    # (cdp/devwechat/). Production refuses to start with it on.
    wechat_sandbox: bool = False
    wechat_sandbox_port: int = Field(default=8001, ge=1024, le=65535)
    customer_session_ttl_seconds: int = Field(default=2 * 3600, ge=60, le=24 * 3600)
    # Identity resolution (cdp.identity_rules), as JSON: per identifier type a priority, a
    # limit per profile and blocked patterns; a merge that breaks a limit waits for review.
    identity_rules: IdentityRules = Field(default_factory=IdentityRules)
    # Website sign-in by phone and SMS code (cdp/sms/), as JSON (cdp.config_models.TencentSms);
    # unset: the SMS routes answer NOT_FOUND. Codes a client address may ask for per minute.
    sms_tencent: TencentSms | None = None
    sms_codes_per_address_per_minute: int = Field(default=5, ge=0, le=1000)
    sms_timeout_seconds: float = Field(default=5.0, gt=0, le=30)  # one send, never retried
    # Staff sign-in (cdp/staff/). OpenID Connect: the issuer (its discovery document is at
    # ISSUER/.well-known/openid-configuration) and cdp's confidential client there.
    staff_oidc_issuer: str | None = None
    staff_oidc_client_id: str | None = None
    staff_oidc_client_secret: SecretStr | None = None
    # The WeCom self-built app, as JSON: {"corp_id": "ww...", "agent_id": "1000002",
    # "secret": "..."}.
    staff_wecom: StaffWecom | None = None
    # Directory groups to roles (cdp.roles.RoleMap); a person nothing maps is refused.
    staff_role_map: RoleMap = Field(default_factory=RoleMap)
    # Where the providers send the browser back (the redirect URI registered with them);
    # unset: the scheme and host the authorize request came to (development only).
    staff_redirect_base_url: str | None = None
    staff_idle_timeout_seconds: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    staff_session_lifetime_seconds: int = Field(default=8 * 3600, ge=300, le=7 * 24 * 3600)
    # How often a session asks the directory again whether its person is still there and
    # still holds the role in use; the session ends at the first answer that says no.
    staff_directory_recheck_seconds: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    # Lifetime of a service account's access token from POST /auth/token.
    service_token_ttl_seconds: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    # The outbox worker (cdp/outbox/): how often `cdp serve` and `cdp worker` look for due
    # messages (0: no worker inside `cdp serve`), rows per claim, sends at once, how long a
    # claim holds, tries before the dead letter, and the backoff (doubled per try, capped).
    outbox_poll_seconds: float = Field(default=1.0, ge=0, le=300)
    outbox_batch_size: int = Field(default=50, ge=1, le=1000)
    outbox_concurrency: int = Field(default=10, ge=1, le=200)
    outbox_lease_seconds: float = Field(default=60.0, ge=5, le=3600)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_seconds: float = Field(default=30.0, ge=0, le=3600)
    outbox_backoff_max_seconds: float = Field(default=3600.0, ge=1, le=24 * 3600)
    # Finished rows (sent, refused, dead, uncertain) are deleted this long after they finished,
    # domain events after a week; never sooner than the longest cap's window.
    outbox_keep_days: int = Field(default=90, ge=1, le=3650)
    # Activation (cdp/activation/): templates by name, caps beyond CDP_CONTACT_CAPS, quiet
    # hours (messages of templates with quiet_hours wait until they end) in a time zone, and
    # how long a send waits when WeChat's daily limit (45009) is reached.
    activation_templates: MessageTemplates = Field(default_factory=dict)
    activation_caps: list[CapRule] = Field(default_factory=lambda: list(DEFAULT_CAPS))
    activation_quiet_hours: QuietHours = "22:00-08:00"
    activation_timezone: str = "Asia/Shanghai"
    activation_limit_backoff_seconds: float = Field(default=3600.0, ge=1, le=24 * 3600)
    # When to send which template, as JSON: [{"on": "order.paid", "template": "order_paid"},
    # {"on": "order.completed", "template": "care", "days": 7}, ...] (cdp.activation_config).
    activation_triggers: list[Trigger] = Field(default_factory=list)
    # The brand's webhook endpoints by name, as JSON: {"crm": {"url": "https://...",
    # "events": ["order.status_changed"], "secret": "..."}}.
    webhooks: Webhooks = Field(default_factory=dict)
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"
    wecom_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    wecom_sso_url: str = "https://login.work.weixin.qq.com/wwlogin/sso/login"

    @field_validator("trusted_documents_only", mode="before")
    @classmethod
    def _role_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("activation_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _webhooks_fit_to_run(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            plain = sorted(n for n, hook in self.webhooks.items() if hook.url.startswith("http:"))
            if plain:
                raise ValueError(f"webhooks must be https:// in production: {plain}")
        return self

    @model_validator(mode="after")
    def _triggers_name_templates(self) -> Settings:
        unknown = sorted(
            {t.template for t in self.activation_triggers} - set(self.activation_templates)
        )
        if unknown:
            raise ValueError(f"activation_triggers name templates not configured: {unknown}")
        return self

    @field_validator(
        "wechat_api_base_url",
        "wechat_authorize_url",
        "wechat_qrconnect_url",
        "wechat_redirect_base_url",
        "staff_oidc_issuer",
        "staff_redirect_base_url",
        "wecom_api_base_url",
        "wecom_authorize_url",
        "wecom_sso_url",
    )
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _wechat_fit_to_run(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            if self.wechat_sandbox:
                raise ValueError(
                    "CDP_WECHAT_SANDBOX is a development stand-in for WeChat; production"
                    " refuses it (unset it)"
                )
            urls = (self.wechat_api_base_url, self.wechat_authorize_url, self.wechat_qrconnect_url)
            if any(not url.startswith("https://") for url in urls) or (
                self.wechat_redirect_base_url or "https://"
            ).startswith("http://"):
                raise ValueError("WeChat URLs must be https:// in production")
            # Without it, the redirect back from WeChat is built from the request's Host header.
            redirected = (WechatAppType.OFFICIAL_ACCOUNT, WechatAppType.WEBSITE)
            has_redirect = any(app.type in redirected for app in self.wechat_apps.values())
            if has_redirect and self.wechat_redirect_base_url is None:
                raise ValueError(
                    "CDP_WECHAT_REDIRECT_BASE_URL is required with official accounts and"
                    " website apps"
                )
            for app_id, app in self.wechat_apps.items():
                # WeChat's AppSecrets are 32 hex characters; anything else is a placeholder.
                if len(app.secret.get_secret_value()) != 32:
                    raise ValueError(f"CDP_WECHAT_APPS: {app_id}'s secret is not 32 characters")
        return self

    @model_validator(mode="after")
    def _staff_sign_in_fit_to_run(self) -> Settings:
        oidc = (self.staff_oidc_issuer, self.staff_oidc_client_id, self.staff_oidc_client_secret)
        if any(value is not None for value in oidc) and any(value is None for value in oidc):
            raise ValueError(
                "CDP_STAFF_OIDC_ISSUER, CDP_STAFF_OIDC_CLIENT_ID and CDP_STAFF_OIDC_CLIENT_SECRET"
                " go together"
            )
        if self.env is Environment.PRODUCTION and (self.has_oidc or self.staff_wecom):
            urls = (
                self.staff_oidc_issuer or "https://",
                self.wecom_api_base_url,
                self.wecom_authorize_url,
                self.wecom_sso_url,
            )
            if any(not url.startswith("https://") for url in urls):
                raise ValueError("staff sign-in URLs must be https:// in production")
            if not (self.staff_redirect_base_url or "").startswith("https://"):
                raise ValueError(
                    "CDP_STAFF_REDIRECT_BASE_URL (https://) is required with staff sign-in"
                )
        return self

    @property
    def has_oidc(self) -> bool:
        return self.staff_oidc_issuer is not None

    @field_validator("database_url", "keystore_url", "read_database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers only)"
            )
        return value

    @model_validator(mode="after")
    def _keystore_apart(self) -> Settings:
        if self.keystore_url is not None and same_database(self.keystore_url, self.database_url):
            raise ValueError(
                "CDP_KEYSTORE_URL must not be CDP_DATABASE_URL's database: its backups "
                "would carry the data keys"
            )
        return self

    @property
    def keystore_database_url(self) -> str:
        """Where the key store is: CDP_KEYSTORE_URL, or keystore.db beside the keyring."""
        if self.keystore_url is not None:
            return self.keystore_url
        if self.is_production:
            raise ConfigError("bad configuration: CDP_KEYSTORE_URL is required in production")
        return f"sqlite+aiosqlite:///{self.keyring.resolve().parent / 'keystore.db'}"

    @field_validator("analytics_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _replica_of_postgresql(self) -> Settings:
        if self.read_database_url is not None and (
            self.is_sqlite or not self.read_database_url.startswith("postgresql")
        ):
            raise ValueError(
                "CDP_READ_DATABASE_URL is a PostgreSQL replica of a PostgreSQL primary"
            )
        return self

    @model_validator(mode="after")
    def _tiers_ascend(self) -> Settings:
        if self.tier_supreme_fen <= self.tier_vip_fen:
            raise ValueError("CDP_TIER_SUPREME_FEN must be above CDP_TIER_VIP_FEN")
        return self

    @property
    def points_lifetime(self) -> timedelta:
        return timedelta(days=self.points_lifetime_days)

    @model_validator(mode="after")
    def _production_refuses_development_secrets(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            secret = self.jwt_secret.get_secret_value()
            if secret == DEVELOPMENT_JWT_SECRET:
                raise ValueError("CDP_JWT_SECRET is the development secret; set a real one")
            if len(secret) < 32:
                raise ValueError("CDP_JWT_SECRET must be at least 32 characters in production")
            if estimated_bits(secret) < MIN_SECRET_BITS:
                raise ValueError(
                    f"CDP_JWT_SECRET is too guessable (under an estimated {MIN_SECRET_BITS} bits);"
                    " make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        if token is not None and (len(token) < 32 or estimated_bits(token) < MIN_SECRET_BITS):
            raise ValueError(
                "CDP_METRICS_TOKEN is too short or guessable: at least 32 random characters"
            )
        return self

    def __repr_args__(self) -> Any:
        # A PostgreSQL URL may carry a password: show the URL with it hidden.
        for name, value in super().__repr_args__():
            if name in ("database_url", "keystore_url", "read_database_url") and isinstance(
                value, str
            ):
                value = make_url(value).render_as_string(hide_password=True)
            yield name, value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def trusted_only_roles(self) -> frozenset[Role]:
        """The roles whose document text is refused: they send a trusted `documentId`."""
        production = {Role.CUSTOMER} if self.is_production else set()
        return frozenset(self.trusted_documents_only) | production


def same_database(first: str, second: str) -> bool:
    """Whether two URLs name one database (same file, or same host, port and database)."""
    a, b = make_url(first), make_url(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return (
            bool(a.database)
            and Path(a.database or "").resolve() == Path(b.database or "").resolve()
        )
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


STRUCTURED = (
    "contact_caps",
    "wechat_apps",
    "staff_wecom",
    "staff_role_map",
    "identity_rules",
    "sms_tencent",
    "activation_templates",
    "activation_triggers",
    "activation_caps",
    "webhooks",
)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from `environ` (the process environment when None) plus overrides."""
    try:
        if environ is None:
            return Settings(**overrides)
        values: dict[str, Any] = {}
        for key, value in environ.items():
            name = key[len("CDP_") :].lower()
            if not key.startswith("CDP_") or name not in Settings.model_fields:
                continue
            # Structured settings arrive as JSON, as pydantic-settings reads the environment.
            try:
                values[name] = json.loads(value) if name in STRUCTURED else value
            except json.JSONDecodeError:
                raise ConfigError(f"bad configuration: {key}: not valid JSON") from None
        values.update(overrides)
        return Settings.model_validate(values)
    except (json.JSONDecodeError, SettingsError) as exc:
        named = next((f for f in STRUCTURED if f.upper() in str(exc).upper()), None)
        where = f"CDP_{named.upper()}" if named else "a CDP_ setting"
        raise ConfigError(f"bad configuration: {where}: not valid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = (
            "CDP_" + "_".join(str(part) for part in first["loc"]).upper() if first["loc"] else ""
        )
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"bad configuration: {where + ': ' if where else ''}{message}") from None
