"""Validation and normal forms of the values a profile holds: identifiers, phones, addresses."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass

import phonenumbers

from cdp.errors import bad_input
from cdp.profiles.models import ID_MAX_LENGTH
from cdp.text import check_text

# Values that client code sends when it has no identifier (JS `String(null)` and friends).
_PLACEHOLDER_IDENTIFIERS = frozenset({"null", "undefined", "none", "nil", "nan", "0", "false"})
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_MAINLAND_MOBILE = re.compile(r"\+861\d{10}")  # a landline's is shorter, or starts 2-9


def clean_identifier(value: str | None, *, field: str) -> str:
    """An app id, OpenID or UnionID as stored; BAD_USER_INPUT naming `field` when unusable."""
    if value is None:
        raise bad_input(f"{field} is required", field=field)
    cleaned = check_text(value, field=field).strip()
    if not cleaned:
        raise bad_input(f"{field} must not be blank", field=field)
    if cleaned.lower() in _PLACEHOLDER_IDENTIFIERS:
        raise bad_input(f"{field} is a placeholder, not an identifier", field=field)
    if len(cleaned) > ID_MAX_LENGTH:
        raise bad_input(f"{field} is longer than {ID_MAX_LENGTH} characters", field=field)
    if cleaned != value or any(unicodedata.category(ch)[0] in "CZ" for ch in cleaned):
        raise bad_input(f"{field} must not contain spaces or control characters", field=field)
    return cleaned


def optional_identifier(value: str | None, *, field: str) -> str | None:
    return None if value is None else clean_identifier(value, field=field)


def normalize_phone(raw: str, *, field: str = "phone", mainland_mobile: bool = False) -> str:
    """E.164 form: `13812345678`, `138 1234 5678`, `+86 138-1234-5678`, `8613812345678` agree."""
    compact = _PHONE_SEPARATORS.sub("", check_text(raw, field=field).strip())
    if not compact or len(compact) > 20 or not compact.lstrip("+").isdigit():
        raise bad_input("phone must be a phone number", field=field)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif not compact.startswith("+") and len(compact) == 13 and compact.startswith("86"):
        compact = "+" + compact
    try:
        number = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException:
        raise bad_input("phone must be a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise bad_input("phone is not a valid number", field=field)
    if mainland_mobile and (
        number.country_code != 86
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise bad_input("phone must be a mainland China mobile number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(stored: str) -> str:
    """The phone as the person knows it, from its stored E.164 form: mainland China numbers in
    national form (`13812345678`), others in international form (`+44 20 7946 0958`)."""
    if _MAINLAND_MOBILE.fullmatch(stored):  # nearly every stored phone: no parse needed
        return stored[3:]
    try:
        number = phonenumbers.parse(stored, "CN")
    except phonenumbers.NumberParseException:
        return stored
    if number.country_code == 86:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return re.sub(r"\D", "", national)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@dataclass(frozen=True, slots=True)
class PostalAddress:
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PostalAddress:
        data = json.loads(text)
        return cls(**{key: data.get(key) for key in ("province", "city", "district", "street")})


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileKeys:
    """The keys a lookup may give, exactly one of them set (`app_id` narrows `open_id`)."""

    public_id: str | None = None
    union_id: str | None = None
    open_id: str | None = None
    app_id: str | None = None
    phone: str | None = None
