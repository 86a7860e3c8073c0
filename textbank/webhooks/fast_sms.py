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

import threading
from collections.abc import Callable, Iterable

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Response

from textbank import enqueue
from textbank.models import utcnow
from textbank.replies.batch import GroupStore
from textbank.replies.handling import answered_in_request, policy_from_settings
from textbank.webhooks.plain import put_back, read_form, signed_fields
from textbank.webhooks.sms import _LIMITS, NO_ANSWER

PATH = "/twilio/sms"


class FastReplies:
    """WSGI middleware: the plain reply's path; everything else goes to `app` as it came."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app
        settings = flask_app.extensions["textbank.settings"]
        self.url = settings.public_base_url + PATH
        self.validator = RequestValidator(settings.twilio_auth_token or "")
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
        if environ.get("PATH_INFO") != PATH or environ.get("QUERY_STRING"):
            return self.app(environ, start_response)
        body = read_form(environ)
        if body is None:
            return self.app(environ, start_response)
        params = signed_fields(environ, self.validator, self.url, body, ("MessageSid", "From"))
        if params is None or not self._plain(params):
            put_back(environ, body)
            return self.app(environ, start_response)
        self.store().store(params, utcnow())  # None: Twilio retrying one we have and queued
        start_response("200 OK", list(self.headers))
        return [self.body]

    def _plain(self, params: dict[str, str]) -> bool:
        """A reply within the route's lengths that nobody needs to answer now."""
        if any(len(params.get(name, "")) > most for name, most in _LIMITS.items()):
            return False
        return not answered_in_request(params.get("Body", ""), self.policy)
