"""Twilio-shaped JSON for the sandbox: message and call resources, list pages, error bodies."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

API_VERSION = "2010-04-01"
API_ROOT = f"/{API_VERSION}/Accounts"

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

ERROR_MESSAGES = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Carrier violation",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 lowercase hex digits."""
    return prefix + uuid.uuid4().hex


def now() -> datetime:
    """The current UTC time at second precision, as Twilio reports and filters it."""
    return datetime.fromtimestamp(int(time.time()), UTC)


def rfc2822(moment: datetime | None) -> str | None:
    """'Sun, 22 Nov 2026 11:31:01 +0000', locale-independent (strftime's %a is not)."""
    return None if moment is None else _rfc2822(moment)


@lru_cache(maxsize=256)  # second precision: a busy second formats once, not per field
def _rfc2822(moment: datetime) -> str:
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


def num_segments(body: str) -> int:
    """SMS segments: GSM-7 is 160 septets alone or 153 per part, else UCS-2 70 or 67."""
    septets = 0
    for char in body:
        if char in _GSM_BASIC:
            septets += 1
        elif char in _GSM_EXTENDED:
            septets += 2
        else:
            units = len(body.encode("utf-16-le")) // 2
            return 1 if units <= 70 else -(-units // 67)
    return 1 if septets <= 160 else -(-septets // 153)


def error_body(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def message_resource(message: Any) -> dict[str, Any]:
    """A Message resource as Twilio's 2010-04-01 API returns it."""
    uri = f"{API_ROOT}/{message.account_sid}/Messages/{message.sid}"
    code = message.error_code
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": code,
        "error_message": ERROR_MESSAGES.get(code) if code else None,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def call_resource(call: Any) -> dict[str, Any]:
    """A Call resource as Twilio's 2010-04-01 API returns it."""
    uri = f"{API_ROOT}/{call.account_sid}/Calls/{call.sid}"
    subresources = ("notifications", "recordings", "payments", "events", "streams")
    return {
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": getattr(call, "answered_by", None),
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": "outbound-api",
        "duration": None if call.duration is None else str(call.duration),
        "end_time": rfc2822(call.end_time),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": call.status,
        "subresource_uris": {name: f"{uri}/{name.title()}.json" for name in subresources},
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def list_page(
    account_sid: str,
    key: str,
    items: list[dict[str, Any]],
    filters: dict[str, str],
    page: int,
    page_size: int,
    next_token: str | None,
) -> dict[str, Any]:
    """Twilio's list envelope; the SDK follows next_page_uri until it is null."""
    path = f"{API_ROOT}/{account_sid}/{key.title()}.json"

    def page_uri(number: int, token: str | None = None) -> str:
        query = {**filters, "PageSize": str(page_size), "Page": str(number)}
        if token:
            query["PageToken"] = token
        return f"{path}?{urlencode(query)}"

    start = page * page_size
    return {
        key: items,
        "end": start + max(len(items) - 1, 0),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1, next_token) if next_token else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": page_uri(page),
    }
