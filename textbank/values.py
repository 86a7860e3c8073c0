"""Values people and programs send, checked once before they reach the database.

Each check raises BadValue with a message that starts with the field's name; the web app
answers it 400 (JSON under /api/, a page elsewhere). What they catch would otherwise be a
database error, a 500: ids past PostgreSQL's `integer`, dates past the calendar's ends once
moved to UTC, NUL characters PostgreSQL refuses to store, `true` taken for the number 1.
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_ID = 2**31 - 1  # ids are PostgreSQL `integer` columns
# Far enough out for any campaign or report; far enough in that moving a time to UTC, or a
# day on, never leaves the calendar (year 1 and year 9999 do).
FIRST_YEAR, LAST_YEAR = 1900, 2999


class BadValue(ValueError):
    """A value that cannot be used; the message names the field."""


def whole_number(value: object, name: str, low: int = 0, high: int = MAX_ID) -> int:
    """A whole number from a query string, form or JSON; never a bool, a float or '²'."""
    if isinstance(value, str):
        text = value.strip()
        # str.isdigit() is also true for superscripts and other scripts' digits.
        if not (text.isascii() and text.isdigit()) or len(text) > 20:
            raise BadValue(f"{name} must be a whole number, got {value!r}")
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise BadValue(f"{name} must be a whole number, got {value!r}")
    if not low <= number <= high:
        raise BadValue(f"{name} must be from {low} to {high}, got {number}")
    return number


def record_id(value: object, name: str) -> int:
    """An id of a row: 1 to MAX_ID."""
    return whole_number(value, name, 1, MAX_ID)


def cursor(value: str, name: str = "after") -> int:
    """A paging cursor this API returned (a row id)."""
    try:
        return whole_number(value, name)
    except BadValue as exc:
        raise BadValue(f"{name} is not a cursor this API returned: {value!r}") from exc


def optional_id(value: object, name: str) -> int | None:
    return None if value in (None, "") else record_id(value, name)


def moment(value: str, name: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise BadValue(f"{name} must be a date like 2026-11-01, got {value!r}") from exc
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return in_calendar(parsed, name)


def in_calendar(value: datetime, name: str) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadValue(f"{name} must be between {FIRST_YEAR} and {LAST_YEAR}, got {value.date()}")
    return value


def nul_field(data: object, name: str = "") -> str | None:
    """The name of the first field (or key) in a JSON value holding a NUL, or None."""
    if isinstance(data, str):
        return (name or "value") if "\x00" in data else None
    if isinstance(data, dict):
        for key, item in data.items():
            path = f"{name}.{key}" if name else str(key)
            if "\x00" in str(key):
                return path
            found = nul_field(item, path)
            if found:
                return found
    if isinstance(data, list):
        for i, item in enumerate(data):
            found = nul_field(item, f"{name}[{i}]")
            if found:
                return found
    return None
