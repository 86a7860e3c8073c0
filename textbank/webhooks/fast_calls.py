"""A voice campaign call's requests as plain WSGI, in front of Flask.

Every request a call makes is a signed form of ~20 short fields: four status callbacks
(initiated, ringing, answered, completed), the answer URL (the TwiML of the script and
menu, or the voicemail) and, when a person presses a key, the menu's action. Their whole
work is a statement or three; Flask's request machinery (context, hooks, form parsing,
routing) cost the web process about as much CPU as that work (scripts/bench_voice.py), so
the plain case is served here, with the same checks and the same answer as the Flask routes
(textbank.webhooks.calls: call_status, call_answer, call_menu). Anything else — another path
or query, a body too large, chunked or not a plain form, a missing or bad signature, a NUL,
a repeated field, an over-long SID, no CallSid (or no CallStatus, for a status callback), an
id past the database's range — goes to the Flask route as it came (the body already read is
put back), which answers it as it always has. Settings are read per request, as the routes
read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flask import Flask
from twilio.request_validator import RequestValidator

from textbank.calls import answers
from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.pacing import release_slot, slot_name
from textbank.calls.recordings import recording_urls
from textbank.config import Settings
from textbank.models import utcnow
from textbank.values import MAX_ID
from textbank.webhooks.plain import put_back, read_form, signed_fields

PATH = re.compile(r"/twilio/voice/calls/([0-9]{1,10})(/status|/menu)?")
QUERY = re.compile(r"a=([0-9]{1,9})")
NO_CONTENT = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]
XML = "application/xml; charset=utf-8"  # as Flask sends Response(..., mimetype=…/xml)


def _number(value: str | None) -> int | None:
    """As Werkzeug's form.get(name, type=int): None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def menu_url(base: str, call_id: int, attempt: int) -> str:
    """The <Gather>'s action, as the Flask route builds it with url_for."""
    return f"{base}/twilio/voice/calls/{call_id}/menu?a={attempt}"


class FastCallStatus:
    """WSGI middleware: a call's plain requests; everything else goes to `app`."""

    def __init__(self, flask_app: Flask, app: Callable) -> None:
        self.flask_app, self.app = flask_app, app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        query = QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if path is None or query is None or int(path.group(1)) > MAX_ID:
            return self.app(environ, start_response)
        body = read_form(environ)
        if body is None:
            return self.app(environ, start_response)
        settings: Settings = self.flask_app.extensions["textbank.settings"]
        kind = path.group(2)
        url = f"{settings.public_base_url}{environ['PATH_INFO']}?{environ['QUERY_STRING']}"
        required = ("CallSid", "CallStatus") if kind == "/status" else ("CallSid",)
        validator = RequestValidator(settings.twilio_auth_token or "")
        params = signed_fields(environ, validator, url, body, required)
        if params is None:
            put_back(environ, body)
            return self.app(environ, start_response)
        call_id, attempt = int(path.group(1)), int(query.group(1))
        if kind == "/status":
            self._status(call_id, attempt, params)
            start_response("204 NO CONTENT", list(NO_CONTENT))
            return []
        answer = self._menu if kind == "/menu" else self._answer
        xml = answer(settings, call_id, attempt, params).encode()
        start_response("200 OK", [("Content-Type", XML), ("Content-Length", str(len(xml)))])
        return [xml]

    def _status(self, call_id: int, attempt: int, params: dict[str, str]) -> None:
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

    def _answer(self, settings: Settings, call_id: int, attempt: int, params) -> str:
        base = settings.public_base_url
        with self.flask_app.extensions["textbank.sessions"]() as session:
            xml = answers.answer(
                session, call_id, attempt, params["CallSid"], params.get("AnsweredBy"),
                utcnow(), menu_url(base, call_id, attempt), recording_urls(session, base),
            )  # fmt: skip
            session.commit()
        return xml

    def _menu(self, settings: Settings, call_id: int, attempt: int, params) -> str:
        base, extensions = settings.public_base_url, self.flask_app.extensions
        with extensions["textbank.sessions"]() as session:
            xml = answers.press(
                session, call_id, attempt, params["CallSid"], params.get("Digits", ""),
                utcnow(), menu_url(base, call_id, attempt),
                texts_too=settings.press_9_stops_texts, caller_id=settings.twilio_from_number,
                redis_client=extensions["textbank.redis"].get(),
                audio_urls=recording_urls(session, base),
            )  # fmt: skip
            session.commit()
        return xml
