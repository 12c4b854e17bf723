"""The tables of staff identity: server-side sessions, sign-in attempts in flight, service
accounts with their short-lived tokens, and the access tokens of directory APIs shared by every
worker. Secrets are stored as SHA-256 hashes (they are 256-bit random values, so a fast hash
is enough), or sealed when cdp must use them again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.columns import UtcDateTime, enum_column_type, timestamp_field


class StaffProvider(StrEnum):
    OIDC = "oidc"
    WECOM = "wecom"
    DEVELOPMENT = "development"  # the local sign-in of `make run`; production refuses it


class SessionEnd(StrEnum):
    SIGNED_OUT = "signed_out"
    REVOKED = "revoked"
    IDLE = "idle"
    EXPIRED = "expired"
    DIRECTORY = "directory"  # the person left the directory, or lost the role in use


def _when(*, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(UtcDateTime, nullable=nullable)


class StaffSession(SQLModel, table=True):
    """One signed-in person in one browser. The cookie carries the secret whose hash is
    `token_hash`; `public_id` names the session in lists, revocations and the audit log."""

    __tablename__ = "staff_sessions"
    __table_args__ = (sa.Index("ix_staff_sessions_person", "provider", "directory_id"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=32, unique=True, nullable=False)
    token_hash: str = Field(max_length=64, unique=True, nullable=False)
    provider: StaffProvider = Field(
        sa_column=sa.Column(enum_column_type(StaffProvider), nullable=False)
    )
    directory_id: str = Field(max_length=96, nullable=False)
    roles: str = Field(max_length=200, nullable=False)  # comma-separated, in Role order
    role: str | None = Field(default=None, max_length=32)  # chosen once per session
    created_at: datetime = timestamp_field()
    last_seen_at: datetime = Field(sa_column=_when(nullable=False))
    expires_at: datetime = Field(sa_column=_when(nullable=False))  # the absolute lifetime
    checked_at: datetime = Field(sa_column=_when(nullable=False))  # the directory, last asked
    # What the provider gave to ask again (an OIDC refresh token), sealed; None for WeCom,
    # whose directory cdp asks with its own access token.
    provider_grant: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    ended_at: datetime | None = Field(default=None, sa_column=_when())
    ended_reason: SessionEnd | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(SessionEnd))
    )
    ended_by: str | None = Field(default=None, max_length=128)


class SignInAttempt(SQLModel, table=True):
    """A sign-in between the redirect to the provider and its callback: one use, ten minutes.
    `state_hash` is the hash of the state sent to the provider (and held in a cookie)."""

    __tablename__ = "staff_sign_in_attempts"
    __table_args__ = (sa.Index("ix_staff_sign_in_attempts_expires_at", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(max_length=64, unique=True, nullable=False)
    provider: StaffProvider = Field(
        sa_column=sa.Column(enum_column_type(StaffProvider), nullable=False)
    )
    nonce: str | None = Field(default=None, max_length=128)
    code_verifier: str | None = Field(default=None, max_length=128)  # PKCE
    created_at: datetime = timestamp_field()
    expires_at: datetime = Field(sa_column=_when(nullable=False))


class ServiceAccount(SQLModel, table=True):
    """A backend service's identity: `client_id` is public, the secret is shown once and
    kept only as its hash."""

    __tablename__ = "service_accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, nullable=False)
    client_id: str = Field(max_length=64, unique=True, nullable=False)
    secret_hash: str = Field(max_length=64, nullable=False)
    created_at: datetime = timestamp_field()
    rotated_at: datetime | None = Field(default=None, sa_column=_when())
    revoked_at: datetime | None = Field(default=None, sa_column=_when())


class ServiceToken(SQLModel, table=True):
    """A short-lived bearer token issued by `POST /auth/token`, stored as its hash."""

    __tablename__ = "service_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, nullable=False)
    account_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("service_accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    created_at: datetime = timestamp_field()
    expires_at: datetime = Field(sa_column=_when(nullable=False))


class ProviderToken(SQLModel, table=True):
    """An access token of a directory API (WeCom's gettoken), sealed, shared by every worker
    and instance so that they neither fetch one each nor exhaust the API's daily quota."""

    __tablename__ = "staff_provider_tokens"

    key: str = Field(primary_key=True, max_length=128)  # e.g. "wecom:<corp id>:<agent id>"
    sealed_token: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    fetched_at: datetime = Field(sa_column=_when(nullable=False))
    expires_at: datetime = Field(sa_column=_when(nullable=False))
