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

import re
from collections.abc import Callable, Iterable

from flask import Flask
from twilio.request_validator import RequestValidator

from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.pacing import release_slot, slot_name
from textbank.models import utcnow
from textbank.values import MAX_ID
from textbank.webhooks.plain import put_back, read_form, signed_fields

PATH = re.compile(r"/twilio/voice/calls/([0-9]{1,10})/status")
QUERY = re.compile(r"a=([0-9]{1,9})")
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
        self.validator = RequestValidator(settings.twilio_auth_token or "")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        query = QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if path is None or query is None or int(path.group(1)) > MAX_ID:
            return self.app(environ, start_response)
        body = read_form(environ)
        if body is None:
            return self.app(environ, start_response)
        url = f"{self.base}{environ['PATH_INFO']}?{environ['QUERY_STRING']}"
        params = signed_fields(environ, self.validator, url, body, ("CallSid", "CallStatus"))
        if params is None:
            put_back(environ, body)
            return self.app(environ, start_response)
        call_id, attempt = int(path.group(1)), int(query.group(1))
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
