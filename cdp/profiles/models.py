"""Tables of the identity graph: profiles, their app identities, merge records, and the
merges the identity rules refused (reviews)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cdp.channels import Channel
from cdp.columns import UtcDateTime, enum_column_type, profile_fk, timestamp_field

# Imported with the tables it indexes: its flush hook keeps their lookup keys.
from cdp.profiles import directory  # noqa: F401

ID_MAX_LENGTH = 64  # OpenIDs and UnionIDs are 28-29 characters; app ids 18


class Tier(StrEnum):
    STANDARD = "STANDARD"
    VIP = "VIP"
    SUPREME = "SUPREME"


class PhoneSource(StrEnum):
    """Where a profile's phone came from: typed in by the person (unverified), or verified by
    WeChat's phone authorisation or an SMS code."""

    SELF_ENTERED = "SELF_ENTERED"
    WECHAT = "WECHAT"
    SMS = "SMS"


VERIFIED_SOURCES = frozenset({PhoneSource.WECHAT, PhoneSource.SMS})


def new_public_id() -> str:
    return str(uuid.uuid4())


class Profile(SQLModel, table=True):
    """One person. `id` is the internal surrogate; clients only ever see `public_id`."""

    __tablename__ = "profiles"
    # Many profiles may claim a phone; one at most holds it verified (lookups reach that one).
    __table_args__ = (
        sa.Index(
            "uq_profiles_verified_phone",
            "phone_bidx",
            unique=True,
            sqlite_where=sa.text("phone_verified"),
            postgresql_where=sa.text("phone_verified"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(
        default_factory=new_public_id, max_length=36, unique=True, index=True, nullable=False
    )
    # Personal fields and identifiers are stored sealed (see cdp.crypto); `*_bidx` are their
    # blind indexes for equality lookups. Never logged, never in errors or audit records.
    union_id_bidx: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary(32), unique=True, nullable=True)
    )
    union_id_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    tier: Tier = Field(
        default=Tier.STANDARD, sa_column=sa.Column(enum_column_type(Tier), nullable=False)
    )
    phone_bidx: bytes | None = Field(
        default=None, sa_column=sa.Column(sa.LargeBinary(32), index=True, nullable=True)
    )
    phone_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    phone_verified: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    phone_source: PhoneSource | None = Field(
        default=None, sa_column=sa.Column(enum_column_type(PhoneSource), nullable=True)
    )
    name_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    address_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    birthday_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    # The birthday's month in the clear (one of twelve: audiences select on it without
    # decrypting anyone); written with the sealed date, cleared with it and by erasure.
    birth_month: int | None = Field(
        default=None, sa_column=sa.Column(sa.SmallInteger, nullable=True)
    )
    # Coarse companions for analytics, written and cleared the same way: the first year of
    # the five-year birth cohort (1995 for 1995-1999) and the address's province.
    birth_cohort: int | None = Field(
        default=None, sa_column=sa.Column(sa.SmallInteger, nullable=True)
    )
    province: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class Identity(SQLModel, table=True):
    """One app's view of a person: an OpenID under an app id."""

    __tablename__ = "identities"
    __table_args__ = (sa.UniqueConstraint("app_id", "open_id_bidx", name="uq_identities_app_open"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: int = Field(sa_column=profile_fk())
    channel: Channel = Field(sa_column=sa.Column(enum_column_type(Channel), nullable=False))
    app_id: str = Field(max_length=ID_MAX_LENGTH, nullable=False)
    open_id_bidx: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, index=True))
    open_id_ct: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    linked_at: datetime = timestamp_field()
    last_seen_at: datetime = timestamp_field()


class ProfileMerge(SQLModel, table=True):
    """Record that `loser` turned out to be the same person as `survivor` and was folded in."""

    __tablename__ = "profile_merges"

    id: int | None = Field(default=None, primary_key=True)
    survivor_id: int = Field(sa_column=profile_fk())
    loser_id: int = Field(nullable=False)
    loser_public_id: str = Field(max_length=36, unique=True, index=True, nullable=False)
    reason: str = Field(max_length=32, nullable=False)
    moved: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    merged_at: datetime = timestamp_field()


class ReviewStatus(StrEnum):
    OPEN = "OPEN"
    MERGED = "MERGED"
    KEPT_APART = "KEPT_APART"


class ReviewDecision(StrEnum):
    MERGE = "MERGE"
    KEEP_APART = "KEEP_APART"


class IdentityReview(SQLModel, table=True):
    """A merge the identity rules refused: `profile` (where the link's OpenID is) and `other`
    (where its UnionID leads) stay apart until compliance decides. No personal values."""

    __tablename__ = "identity_reviews"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(
        default_factory=new_public_id, max_length=36, unique=True, index=True, nullable=False
    )
    profile_id: int = Field(sa_column=profile_fk())
    other_profile_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    rule: str = Field(max_length=32, nullable=False)  # the IdentifierType whose limit broke
    status: ReviewStatus = Field(
        default=ReviewStatus.OPEN,
        sa_column=sa.Column(enum_column_type(ReviewStatus), nullable=False, index=True),
    )
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = timestamp_field()
    resolved_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UtcDateTime, nullable=True)
    )
    resolved_by: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=200)
