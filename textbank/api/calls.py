"""Voice campaigns' recordings: PUT an MP3 or WAV per language for the script or voicemail."""

from __future__ import annotations

from flask import jsonify, request

from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.calls.recordings import RecordingError, store_recording
from textbank.campaigns.lifecycle import get_campaign
from textbank.models import utcnow
from textbank.web import settings
from textbank.web.database import db


@bp.put("/campaigns/<int:campaign_id>/recordings/<language>/<part>")
@require_role(*MANAGERS)
def put_recording(campaign_id: int, language: str, part: str):
    """The body is the audio itself, with its Content-Type."""
    session = db()
    try:
        campaign = get_campaign(session, campaign_id)
    except LookupError as exc:
        raise ApiError(str(exc), 404) from exc
    try:
        audio, kind = request.get_data(), request.content_type or ""
        recording = store_recording(session, campaign, language, part, kind, audio, utcnow())
    except RecordingError as exc:
        raise ApiError(str(exc), 400) from exc
    session.commit()
    url = f"{settings().public_base_url}/twilio/voice/recordings/{recording.token}"
    return jsonify(language=recording.language, part=recording.part, url=url,
                   bytes=len(recording.audio)), 201  # fmt: skip
