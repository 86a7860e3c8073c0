"""POST /twilio/sms/status's common case as plain WSGI, in front of Flask.

Twilio reports on every text at least twice (sent, delivered): in a shift of volunteers or
a blast these are most of the web's requests, and Flask's request machinery cost more CPU
than recording one. The common report — signed, for a row of ours (`?m=ID`), no error
code, moving its row forward — is checked and recorded here with the checks the route
makes, and answered as the route answers (204). Anything else (another path or query, a
bad or missing signature, a repeated field, a NUL, an over-long SID, an error code, a
status we do not know) goes to the Flask route unchanged, the body already read put back,
and is answered as it always has been. A report that moves nothing because its row already
stands there (a duplicate, "sent" after "delivered") is answered here too, after one read:
the route would write nothing for it either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Response

from textbank.blasts.delivery import already_there, forward
from textbank.models import utcnow
from textbank.webhooks.plain import put_back, read_form, signed_fields

PATH = "/twilio/sms/status"
ROW = re.compile(r"m=([1-9][0-9]{0,17})")


class FastStatus:
    """WSGI middleware: the common status report's path; the rest goes to `app` as it came."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        settings = flask_app.extensions["textbank.settings"]
        self.url = settings.public_base_url + PATH
        self.validator = RequestValidator(settings.twilio_auth_token or "")
        answer = Response("", 204)
        self.body, self.headers = answer.get_data(), answer.headers.to_wsgi_list()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        row = ROW.fullmatch(environ.get("QUERY_STRING", ""))
        if row is None or environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        body = read_form(environ)
        if body is None:
            return self.app(environ, start_response)
        url = f"{self.url}?{environ['QUERY_STRING']}"
        params = signed_fields(environ, self.validator, url, body, ("MessageSid", "MessageStatus"))
        # An error code may opt the member out: the route does that.
        if params is not None and not params.get("ErrorCode"):
            engine = self.flask_app.extensions["textbank.engine"]
            with engine.begin() as conn:
                status = params["MessageStatus"].lower()
                row_id, sid = int(row[1]), params["MessageSid"]
                done = forward(
                    conn, row_id=row_id, sid=sid, twilio_status=status, now=utcnow()
                ) or already_there(conn, row_id=row_id, sid=sid, twilio_status=status)
            if done:
                start_response("204 NO CONTENT", list(self.headers))
                return [self.body]
        put_back(environ, body)
        return self.app(environ, start_response)
