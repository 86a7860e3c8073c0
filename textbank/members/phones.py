"""Phone numbers: parse to E.164 and find the member's time zones."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

DEFAULT_REGION = "US"


class InvalidPhone(ValueError):
    """The text is not a valid, textable phone number."""


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """Parse a phone number as people write it and return it in E.164, or raise InvalidPhone."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("missing phone")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"unreadable phone {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"invalid phone {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def time_zones(e164: str) -> tuple[str, ...]:
    """IANA time zones a number may be in (several for some area codes); () when unknown."""
    # libphonenumber maps zones by prefixes of at most TIMEZONE_LONGEST_PREFIX digits,
    # so every number sharing those digits shares the answer: cache by prefix, not number.
    return _zones_for_prefix(e164[: 1 + TIMEZONE_LONGEST_PREFIX])


@lru_cache(maxsize=65536)
def _zones_for_prefix(prefix: str) -> tuple[str, ...]:
    # Pad to a parseable length; only the prefix digits take part in the lookup.
    number = phonenumbers.parse(prefix.ljust(13, "0"), None)
    zones = pn_timezone.time_zones_for_geographical_number(number)
    return tuple(z for z in zones if z != "Etc/Unknown")


_E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")


def looks_e164(phone: str) -> bool:
    """Structural check for numbers already validated on the way in."""
    return bool(_E164_RE.match(phone))
