"""Phone numbers: parse to E.164 and find the member's time zones."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

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


@lru_cache(maxsize=65536)
def time_zones(e164: str) -> tuple[str, ...]:
    """IANA time zones a number may be in (several for some area codes and mobiles)."""
    number = phonenumbers.parse(e164, None)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return zones
