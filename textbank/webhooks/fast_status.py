"""POST /twilio/sms/status's common case as plain WSGI, in front of Flask.

Twilio reports on every text at least twice (sent, delivered): in a shift of volunteers or
a blast these are most of the web's requests, and Flask's request machinery cost more CPU
than recording one. The common report — signed, for a row of ours (`?m=ID`), no error
code, moving its row forward — is checked and recorded here with the checks the route
makes, and answered as the route answers (204). Anything else (another path or query, a
bad or missing signature, a repeated field, a NUL, an over-long SID, an error code, a
status we do not know, a report that does not move its row) goes to the Flask route
unchanged, the body already read put back, and is answered as it always has been.
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
from werkzeug.wrappers import Response

from textbank.blasts.delivery import forward
from textbank.models import utcnow
from textbank.web.limits import WEBHOOK_MAX_BYTES, WEBHOOK_MAX_FIELDS
from textbank.webhooks.signature import SID_LENGTH

PATH = "/twilio/sms/status"
FORM = "application/x-www-form-urlencoded"
ROW = re.compile(r"m=([1-9][0-9]{0,17})")


class FastStatus:
    """WSGI middleware: the common status report's path; the rest goes to `app` as it came."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        settings = flask_app.extensions["textbank.settings"]
        self.url = settings.public_base_url + PATH
        self.key = (settings.twilio_auth_token or "").encode()
        answer = Response("", 204)
        self.body, self.headers = answer.get_data(), answer.headers.to_wsgi_list()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        row = ROW.fullmatch(environ.get("QUERY_STRING", ""))
        if (
            row is None
            or environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("SCRIPT_NAME")
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
            query = environ["QUERY_STRING"]
            params = self._plain(body, query, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
        if params is not None:
            engine = self.flask_app.extensions["textbank.engine"]
            with engine.begin() as conn:
                status = params["MessageStatus"].lower()
                moved = forward(conn, row_id=int(row[1]), sid=params["MessageSid"],
                                twilio_status=status, now=utcnow())  # fmt: skip
            if moved:
                start_response("204 NO CONTENT", list(self.headers))
                return [self.body]
        environ["wsgi.input"] = io.BytesIO(body)  # as it came, for the Flask route
        return self.app(environ, start_response)

    def _plain(self, body: bytes, query: str, signature: str) -> dict[str, str] | None:
        """The report's fields if it is a plain, signed one without an error code."""
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
        signed = f"{self.url}?{query}" + "".join(k + v for k, v in sorted(items))
        mac = hmac.new(self.key, signed.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), signature):
            return None
        if "\x00" in signed or not params.get("MessageSid") or not params.get("MessageStatus"):
            return None
        if params.get("ErrorCode"):
            return None  # an error code may opt the member out: the route does that
        for name, value in items:
            if name.endswith("Sid") and len(value) > SID_LENGTH:
                return None
        return params
