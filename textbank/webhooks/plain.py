"""The plain signed form a Twilio webhook posts, read as WSGI by the paths in front of Flask.

The fast paths (fast_sms, fast_status, fast_calls) take only what the Flask route would take
without a question; whatever this module does not vouch for goes to the route as it came.
"""

from __future__ import annotations

import hmac
import io
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from twilio.request_validator import RequestValidator

from textbank.web.limits import WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS
from textbank.webhooks.signature import SID_LENGTH, VERDICT

FORM = "application/x-www-form-urlencoded"


def read_form(environ: dict) -> bytes | None:
    """The body of a POSTed plain form under the webhook limit, or None with nothing consumed.

    Chunked bodies, other content types, a missing or odd Content-Length and a client that
    went away mid-body are the route's to answer (413, 400, …).
    """
    if (
        environ.get("REQUEST_METHOD") != "POST"
        or environ.get("SCRIPT_NAME")
        or environ.get("HTTP_TRANSFER_ENCODING")
        or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM
    ):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length < WEBHOOK_MAX_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    if len(body) != length:
        put_back(environ, body)
        return None
    return body


def put_back(environ: dict, body: bytes) -> None:
    """Hand the body already read to the Flask route, as it came."""
    environ["wsgi.input"] = io.BytesIO(body)


def signed_fields(
    environ: dict, validator: RequestValidator, url: str, body: bytes, required: tuple[str, ...]
) -> dict[str, str] | None:
    """The form's fields if Twilio signed them for `url` and the route would take them as they
    are: no repeated field, no NUL (the route strips it), no over-long SID (the route's 400),
    every `required` field present. The signature's verdict is left for the route."""
    signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not signature or body.count(b"&") >= WEBHOOK_MAX_FIELDS:
        return None
    try:
        # As Werkzeug parses a form (the same function and error handler).
        items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    except ValueError:
        return None
    params = dict(items)
    if len(params) != len(items):
        return None
    # The same computation as signature.twilio_signed: one signature, over the configured URL.
    valid = hmac.compare_digest(validator.compute_signature(url, params), signature)
    environ[VERDICT] = (url, valid)
    if not valid:
        return None
    if any("\x00" in name or "\x00" in value for name, value in items):
        return None
    if any(name.endswith("Sid") and len(value) > SID_LENGTH for name, value in items):
        return None
    if not all(params.get(name) for name in required):
        return None
    return params
