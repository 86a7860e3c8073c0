"""Phone numbers as the sandbox carrier judges them: E.164 by the phonenumbers package."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=65536)
def e164(raw: str) -> str | None:
    """The E.164 form of a valid number (US assumed without a country code), else None."""
    try:
        number = phonenumbers.parse(raw.strip(), "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def country(number: str) -> str:
    """The ISO country of an E.164 number, as Twilio's FromCountry/ToCountry report it."""
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""


def sender_id(raw: str) -> str | None:
    """A valid From: a phone number (as E.164), a short code or an alphanumeric sender ID."""
    number = e164(raw)
    if number:
        return number
    text = raw.strip()
    if text.isdigit() and 5 <= len(text) <= 6:
        return text
    if (
        len(text) <= 11
        and any(c.isalpha() for c in text)
        and all(c.isalnum() or c == " " for c in text)
    ):
        return text
    return None
