"""List filters for Messages.json: To/From/DateSent bounds and the paging parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from textbank.sandbox.state import Call, Message

# The SDK sends DateSent> / DateSent<; a hand-written query may say >= / <=. All inclusive.
DATE_KEYS = ("DateSent", "DateSent>", "DateSent>=", "DateSent<", "DateSent<=")


def date_filter(key: str, value: str) -> Callable[[datetime], bool]:
    """A DateSent filter: a day (YYYY-MM-DD) or an instant (ISO 8601); bounds are inclusive."""
    if value[:2] in (">=", "<="):
        key, value = "DateSent" + value[0], value[2:]
    value = value.strip()
    if "T" in value:
        value = value.replace(" ", "+")  # an unencoded "+00:00" arrives as a space
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if key == "DateSent":
                return lambda sent: sent.date() == day
            if ">" in key:
                return lambda sent: sent.date() >= day
            return lambda sent: sent.date() <= day
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"Invalid {key} value {value!r}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    if key == "DateSent":
        # The SDK serializes even a plain date as a datetime; the exact filter is by day.
        day = instant.astimezone(UTC).date()
        return lambda sent: sent.date() == day
    if ">" in key:
        return lambda sent: sent >= instant
    return lambda sent: sent <= instant


def _sent_within(check: Callable[[datetime], bool]) -> Callable[[Message], bool]:
    return lambda m: m.date_sent is not None and check(m.date_sent)


def message_filter(query: Any) -> Callable[[Message], bool] | None:
    tests: list[Callable[[Message], bool]] = []
    sender = query.get("From")
    if sender:
        tests.append(lambda m: m.from_ == sender)
    for key in DATE_KEYS:
        if query.get(key):
            check = date_filter(key, query[key])
            tests.append(_sent_within(check))
    if not tests:
        return None

    def matches(m: Message) -> bool:
        return all(test(m) for test in tests)

    return matches


START_KEYS = ("StartTime", "StartTime>", "StartTime>=", "StartTime<", "StartTime<=")


def call_filter(query: Any) -> Callable[[Call], bool] | None:
    """Calls.json filters: From, Status and StartTime bounds (To is the index)."""
    tests: list[Callable[[Call], bool]] = []
    sender, status = query.get("From"), query.get("Status")
    if sender:
        tests.append(lambda c: c.from_ == sender)
    if status:
        tests.append(lambda c: c.status == status)
    for key in START_KEYS:
        if query.get(key):
            check = date_filter(key.replace("StartTime", "DateSent"), query[key])
            tests.append(
                lambda c, check=check: c.start_time is not None and check(c.start_time)  # type: ignore[misc]
            )
    if not tests:
        return None
    return lambda c: all(test(c) for test in tests)


def int_param(query: Any, key: str, default: int, low: int, high: int) -> int:
    raw = query.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Invalid {key} value {raw!r}") from None
    if value < low:
        raise ValueError(f"Invalid {key} value {raw!r}")
    return min(value, high)
