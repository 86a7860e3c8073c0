"""A voice campaign's calls: the answer TwiML, the menu's keys, status callbacks, recordings."""

from __future__ import annotations

import logging

from flask import Response, abort, request, url_for
from sqlalchemy import select

from textbank.calls import answers
from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.pacing import release_slot, slot_name
from textbank.calls.recordings import recording_urls
from textbank.models import CallRecording, utcnow
from textbank.web import redis_ext, settings
from textbank.web.database import db
from textbank.webhooks import bp
from textbank.webhooks.signature import twilio_signed

log = logging.getLogger(__name__)


def _xml(body: str) -> Response:
    return Response(body, mimetype="application/xml")


def _attempt_and_sid() -> tuple[int, str]:
    attempt = request.args.get("a", type=int)
    sid = request.form.get("CallSid", "")
    if attempt is None or not sid:
        abort(400, "the call's attempt (?a=) and CallSid are required")
    return attempt, sid


def _menu_url(call_id: int, attempt: int) -> str:
    return settings().public_base_url + url_for("twilio.call_menu", call_id=call_id, a=attempt)


@bp.post("/voice/calls/<int:call_id>")
@twilio_signed
def call_answer(call_id: int):
    """Twilio's request once the call is answered (after the beep, for a machine)."""
    attempt, sid = _attempt_and_sid()
    session = db()
    body = answers.answer(session, call_id, attempt, sid, request.form.get("AnsweredBy"),
                          utcnow(), _menu_url(call_id, attempt),
                          recording_urls(session, settings().public_base_url))  # fmt: skip
    session.commit()
    return _xml(body)


@bp.post("/voice/calls/<int:call_id>/menu")
@twilio_signed
def call_menu(call_id: int):
    """The <Gather>'s action: the key the member pressed."""
    attempt, sid = _attempt_and_sid()
    session = db()
    s = settings()
    body = answers.press(
        session, call_id, attempt, sid, request.form.get("Digits", ""), utcnow(),
        _menu_url(call_id, attempt), texts_too=s.press_9_stops_texts,
        caller_id=s.twilio_from_number, redis_client=redis_ext.client(),
        audio_urls=recording_urls(session, s.public_base_url),
    )  # fmt: skip
    session.commit()
    return _xml(body)


@bp.post("/voice/calls/<int:call_id>/status")
@twilio_signed
def call_status(call_id: int):
    """Status callbacks (initiated, ringing, answered, completed and the unanswered ends)."""
    attempt, sid = _attempt_and_sid()
    form = request.form
    status = (form.get("CallStatus") or "").lower()
    if not status:
        return {"error": "CallStatus is required"}, 400
    duration, code = form.get("CallDuration", type=int), form.get("ErrorCode", type=int)
    event = CallEvent(call_id, attempt, sid, status, form.get("AnsweredBy") or None, duration, code)
    session = db()
    applied = apply_event(session, event, utcnow())
    session.commit()
    if applied.ended:
        release_slot(redis_ext.client(), slot_name(call_id, attempt))
    return "", 204


@bp.get("/voice/recordings/<token>")
def call_recording(token: str):
    """An uploaded recording, for Twilio's <Play>: the unguessable token is the key."""
    recording = db().scalar(select(CallRecording).where(CallRecording.token == token))
    if recording is None:
        abort(404)
    return Response(recording.audio, mimetype=recording.content_type,
                    headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip
