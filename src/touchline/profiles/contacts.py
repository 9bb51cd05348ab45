"""How an e-mail address and a phone number are written in a profile, the one spelling identity
resolution, search and sending match on."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers

__all__ = ["normalize_email", "normalize_phone", "parse_phone"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: Any) -> str | None:
    """Lower case, trimmed; None for anything that is no address."""
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    return email if _EMAIL_RE.match(email) and len(email) <= 320 else None


def parse_phone(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The number ``raw`` can be, reading national numbers in ``region``; None when it can be none."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


@lru_cache(maxsize=65_536)
def normalize_phone(raw: str, region: str) -> str | None:
    """E.164, reading national numbers in the shop's region: ``010-1234-5678`` -> ``+821012345678``."""
    number = parse_phone(raw, region)
    return None if number is None else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
