"""Uploaded recordings of a voice campaign's script or voicemail, one per language and part."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank.members.fields import FieldError, normalize_language
from textbank.models import CallRecording, Campaign, CampaignStatus, Channel

PARTS = ("script", "voicemail")
# What Twilio's <Play> takes: MP3 and WAV (https://www.twilio.com/docs/voice/twiml/play).
AUDIO_TYPES = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav",
               "audio/wave": "wav"}  # fmt: skip
MAX_BYTES = 10 * 1024 * 1024  # a few minutes of MP3; Twilio fetches the whole file per call


class RecordingError(ValueError):
    """A recording that cannot be stored; the message names what is wrong."""


def _looks_like_audio(audio: bytes, kind: str) -> bool:
    if kind == "wav":
        return audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    return audio[:3] == b"ID3" or (len(audio) > 1 and audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0)


def store_recording(
    session: Session, campaign: Campaign, language: str, part: str, content_type: str,
    audio: bytes, now: datetime,
) -> CallRecording:  # fmt: skip
    """Store (or replace) a recording; it plays instead of text-to-speech for that language."""
    if campaign.channel != Channel.VOICE:
        raise RecordingError(f"campaign {campaign.id} is not a voice campaign")
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        raise RecordingError(
            f"campaign {campaign.id} is {campaign.status}: recordings change only while it is "
            "a draft or paused"
        )
    if part not in PARTS:
        raise RecordingError(f"part must be script or voicemail, got {part!r}")
    try:
        language = normalize_language(language)
    except FieldError as exc:
        raise RecordingError(str(exc)) from exc
    spoken = {"en", *campaign.translations}
    if part == "voicemail":
        spoken = set((campaign.voice or {}).get("voicemail") or {})
    if language not in spoken:
        has = ", ".join(sorted(spoken))
        raise RecordingError(f"the campaign has no {part} in language {language} (it has {has})")
    kind = AUDIO_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        raise RecordingError("the recording must be audio/mpeg (MP3) or audio/wav")
    if not audio:
        raise RecordingError("the recording is empty")
    if len(audio) > MAX_BYTES:
        raise RecordingError(f"the recording is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not _looks_like_audio(audio, kind):
        raise RecordingError(f"the file is not {kind.upper()} audio")
    recording = session.scalar(
        select(CallRecording).where(CallRecording.campaign_id == campaign.id,
                                    CallRecording.language == language, CallRecording.part == part)
    )  # fmt: skip
    if recording is None:
        recording = CallRecording(campaign_id=campaign.id, language=language, part=part)
        session.add(recording)
    recording.content_type = "audio/mpeg" if kind == "mp3" else "audio/wav"
    recording.audio = audio
    recording.token = secrets.token_urlsafe(32)  # a new URL: nothing cached plays the old one
    recording.created_at = now
    session.flush()
    return recording


def recording_urls(
    session: Session, base_url: str
) -> Callable[[int], Callable[[str, str], str | None] | None]:
    """Given a campaign id: where Twilio fetches each of its uploaded recordings, as a function
    (language, part) -> URL or None; None when the campaign has none. `base_url` is
    PUBLIC_BASE_URL, the address Twilio reaches the app at (GET /twilio/voice/recordings/…)."""

    def for_campaign(campaign_id: int) -> Callable[[str, str], str | None] | None:
        rows = session.execute(
            select(CallRecording.language, CallRecording.part, CallRecording.token).where(
                CallRecording.campaign_id == campaign_id
            )
        )
        tokens = {(r.language, r.part): r.token for r in rows}
        if not tokens:
            return None

        def url(language: str, part: str) -> str | None:
            token = tokens.get((language, part))
            return f"{base_url}/twilio/voice/recordings/{token}" if token else None

        return url

    return for_campaign
