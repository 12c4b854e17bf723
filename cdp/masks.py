"""The masks of the policy table: what support and compliance see of a personal value.

Each is computed in memory from the decrypted value; `cdp.policy` names which role gets which.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import phonenumbers

from cdp.profiles.values import PostalAddress


def mask_phone(value: str) -> str:
    """`13812345678` (or `+8613812345678`) -> `138****5678`: the first three and last four
    national digits; another country's number keeps its code and last four: `+44 ****0958`."""
    if len(value) == 11 and value.isdigit() and value[0] == "1":  # a mainland mobile, as shown
        return f"{value[:3]}****{value[-4:]}"
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return "*" * sum(ch.isdigit() for ch in value)
    digits = phonenumbers.national_significant_number(number)
    if len(digits) < 8:
        return "*" * len(digits)
    if number.country_code == 86:
        return f"{digits[:3]}****{digits[-4:]}"
    return f"+{number.country_code} ****{digits[-4:]}"


def mask_name(value: str) -> str:
    """`张三丰` -> `张*`: the first character and one star."""
    return f"{value[:1]}*" if value else value


def mask_address(value: PostalAddress) -> PostalAddress:
    """Province and city only."""
    return replace(value, district=None, street=None)


def birth_year(value: date | str) -> str:
    return str(value)[:4]
