"""POST /twilio/sms's common case as plain WSGI, in front of Flask.

Nearly every reply is a signed form of ~20 short fields whose body is no keyword to act on
in the request: it is checked, stored and answered with empty TwiML. Flask's request
machinery (hooks, form parsing, the view) cost the web process more CPU than all of that
(scripts/bench_inbound.py), so that case is served here, with the same checks in the same
order and the same answer. Anything else — another path, a query string, a body too large
or with too many fields, chunked or not a plain form, a missing or bad signature, a NUL, a
repeated field, an over-long SID, STOP/START/HELP/STATS — is handed to the Flask route
unchanged (the body already read is put back), which answers it as it always has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import threading
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from flask import Flask
from werkzeug.wrappers import Response

from textbank import enqueue
from textbank.models import utcnow
from textbank.replies.batch import GroupStore
from textbank.replies.handling import answered_in_request, policy_from_settings
from textbank.web.limits import WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS
from textbank.webhooks.signature import SID_LENGTH
from textbank.webhooks.sms import _LIMITS, NO_ANSWER

PATH = "/twilio/sms"
FORM = "application/x-www-form-urlencoded"


class FastReplies:
    """WSGI middleware: the plain reply's path; everything else goes to `app` as it came."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        settings = flask_app.extensions["textbank.settings"]
        self.url = settings.public_base_url + PATH
        self.key = (settings.twilio_auth_token or "").encode()
        self.policy = policy_from_settings(settings)
        answer = Response(NO_ANSWER, mimetype="application/xml")
        self.body, self.headers = answer.get_data(), answer.headers.to_wsgi_list()
        self._store: GroupStore | None = None
        self._lock = threading.Lock()

    def store(self) -> GroupStore:
        # Made on first use, in the serving process (after gunicorn forks).
        if self._store is None:
            with self._lock:
                if self._store is None:
                    extensions = self.flask_app.extensions
                    redis = extensions["textbank.redis"]
                    self._store = GroupStore(
                        extensions["textbank.autocommit_engine"],
                        lambda ids: enqueue.replies(redis.get(), ids),
                    )
        return self._store

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("SCRIPT_NAME")
            or environ.get("QUERY_STRING")
            or environ.get("HTTP_TRANSFER_ENCODING")
            or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM
        ):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.app(environ, start_response)
        if not 0 < length < WEBHOOK_MAX_BYTES:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        params = None
        if len(body) == length:  # else the client went away: Flask says so
            params = self._plain(body, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
        if params is None:
            environ["wsgi.input"] = io.BytesIO(body)  # as it came, for the Flask route
            return self.app(environ, start_response)
        self.store().store(params, utcnow())  # None: Twilio retrying one we have and queued
        start_response("200 OK", list(self.headers))
        return [self.body]

    def _plain(self, body: bytes, signature: str) -> dict[str, str] | None:
        """The reply's fields if it is a plain, signed reply nobody needs to answer now."""
        if body.count(b"&") >= WEBHOOK_MAX_FIELDS:
            return None
        try:
            # As Werkzeug parses a form (the same function and error handler).
            items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:
            return None
        params = dict(items)
        if len(params) != len(items) or not signature:
            return None
        signed = self.url + "".join(k + v for k, v in sorted(items))
        mac = hmac.new(self.key, signed.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), signature):
            return None
        if "\x00" in signed or not params.get("MessageSid") or not params.get("From"):
            return None
        for name, value in items:
            if name.endswith("Sid") and len(value) > SID_LENGTH:
                return None
        if any(len(params.get(name, "")) > most for name, most in _LIMITS.items()):
            return None
        if answered_in_request(params.get("Body", ""), self.policy):
            return None
        return params
