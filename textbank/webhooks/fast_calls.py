"""A voice call's status callbacks as plain WSGI, in front of Flask.

Four of the six requests a call makes are status callbacks (initiated, ringing, answered,
completed): a signed form of ~20 short fields whose whole work is one or two statements.
Flask's request machinery (context, hooks, form parsing, routing) cost the web process about
as much CPU as that work (scripts/bench_voice.py), so the plain case is served here, with the
same checks and the same answer as the Flask route (textbank.webhooks.calls.call_status).
Anything else — another path or query, a body too large, chunked or not a plain form, a
missing or bad signature, a NUL, a repeated field, an over-long SID, no CallSid or
CallStatus, an id past the database's range — goes to the Flask route as it came (the body
already read is put back), which answers it as it always has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from flask import Flask

from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.pacing import release_slot, slot_name
from textbank.models import utcnow
from textbank.values import MAX_ID
from textbank.web.limits import WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS
from textbank.webhooks.signature import SID_LENGTH

PATH = re.compile(r"/twilio/voice/calls/([0-9]{1,10})/status")
QUERY = re.compile(r"a=([0-9]{1,9})")
FORM = "application/x-www-form-urlencoded"
NO_CONTENT = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]


def _number(value: str | None) -> int | None:
    """As Werkzeug's form.get(name, type=int): None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class FastCallStatus:
    """WSGI middleware: a call's plain status callback; everything else goes to `app`."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        settings = flask_app.extensions["textbank.settings"]
        self.base = settings.public_base_url
        self.key = (settings.twilio_auth_token or "").encode()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        query = QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if (
            path is None or query is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("SCRIPT_NAME")
            or environ.get("HTTP_TRANSFER_ENCODING")
            or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM
        ):  # fmt: skip
            return self.app(environ, start_response)
        call_id, attempt = int(path.group(1)), int(query.group(1))
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.app(environ, start_response)
        if not 0 < length < WEBHOOK_MAX_BYTES or call_id > MAX_ID:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        params = None
        if len(body) == length:  # else the client went away: Flask says so
            url = f"{self.base}{environ['PATH_INFO']}?{environ['QUERY_STRING']}"
            params = self._plain(body, url, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
        if params is None:
            environ["wsgi.input"] = io.BytesIO(body)  # as it came, for the Flask route
            return self.app(environ, start_response)
        event = CallEvent(
            call_id, attempt, params["CallSid"], params["CallStatus"].lower(),
            params.get("AnsweredBy") or None, _number(params.get("CallDuration")),
            _number(params.get("ErrorCode")),
        )  # fmt: skip
        extensions = self.flask_app.extensions
        with extensions["textbank.sessions"]() as session:
            applied = apply_event(session, event, utcnow())
            session.commit()
        if applied.ended:
            release_slot(extensions["textbank.redis"].get(), slot_name(call_id, attempt))
        start_response("204 NO CONTENT", list(NO_CONTENT))
        return []

    def _plain(self, body: bytes, url: str, signature: str) -> dict[str, str] | None:
        """The callback's fields if it is plain and signed for `url`."""
        if body.count(b"&") >= WEBHOOK_MAX_FIELDS or not signature:
            return None
        try:
            # As Werkzeug parses a form (the same function and error handler).
            items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:
            return None
        params = dict(items)
        if len(params) != len(items):
            return None
        signed = url + "".join(k + v for k, v in sorted(items))
        mac = hmac.new(self.key, signed.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), signature):
            return None
        if "\x00" in signed or not params.get("CallSid") or not params.get("CallStatus"):
            return None
        if any(name.endswith("Sid") and len(value) > SID_LENGTH for name, value in items):
            return None
        return params
