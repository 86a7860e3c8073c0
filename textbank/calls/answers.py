"""In the call: what a person or a machine hears, and what a key press records."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import redis
from sqlalchemy import Row, bindparam, exists, select, update
from sqlalchemy.orm import Session

from textbank.calls import twiml
from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.optouts import opt_out_of_calls
from textbank.calls.script import OPT_OUT_DIGIT, menu_choice
from textbank.campaigns.rendering import render
from textbank.engagement.outcomes import record_outcome
from textbank.models import (
    Call,
    CallOptOut,
    CallRecording,
    Campaign,
    Local,
    Member,
    OutcomeSource,
    table,
)
from textbank.twilio.codes import FAX_ANSWER, MACHINE_ANSWERS

log = logging.getLogger(__name__)
C = table(Call)


# One round trip for everything a call's request needs, read as columns (no ORM objects:
# loading Member would also load its tags and local): the call as apply_event reads it,
# its campaign's script, the member's name, whether the phone may still be called, and
# whether the campaign has recordings to play.
_CONTEXT = (
    select(
        C.c.id, C.c.member_id, C.c.campaign_id, C.c.attempts, C.c.twilio_sid, C.c.placements,
        C.c.status, C.c.answered_by, C.c.language, C.c.phone,
        Campaign.message, Campaign.translations, Campaign.voice,
        Member.first_name, Member.last_name, Member.worksite, Member.opted_out_at,
        Local.number.label("local"),
        exists().where(CallOptOut.phone == C.c.phone).label("no_calls"),
        exists().where(CallRecording.campaign_id == C.c.campaign_id).label("recorded"),
    )
    .join(Campaign, Campaign.id == C.c.campaign_id)
    .join(Member, Member.id == C.c.member_id)
    .outerjoin(Local, Local.id == Member.local_id)
    .where(C.c.id == bindparam("call_id"))
)  # fmt: skip

# Given a campaign id: a function (language, part) -> URL of its uploaded recording, if any.
AudioUrls = Callable[[int], Callable[[str, str], str | None] | None]


def _load(session: Session, call_id: int, attempt: int, sid: str) -> Row | None:
    """The call row this request is about, if the request is about its current attempt."""
    row = session.execute(_CONTEXT, {"call_id": call_id}).first()
    if row is None or row.attempts != attempt or row.twilio_sid not in (None, sid):
        log.warning("call %s: request for call row %s attempt %s, not current", sid, call_id,
                    attempt)  # fmt: skip
        return None
    return row


def _script(ctx: Row) -> str:
    template = ctx.translations.get(ctx.language) or ctx.message
    return render(template, {"first_name": ctx.first_name, "last_name": ctx.last_name,
                             "local": ctx.local, "worksite": ctx.worksite})  # fmt: skip


def _spoken_language(ctx: Row) -> str:
    lang = ctx.language
    return lang if lang in ctx.translations else "en"


def _audio(ctx: Row, audio_urls: AudioUrls | None):
    return audio_urls(ctx.campaign_id) if audio_urls and ctx.recorded else None


def answer(
    session: Session, call_id: int, attempt: int, sid: str, answered_by: str | None,
    now: datetime, menu_url: str, audio_urls: AudioUrls | None = None,
) -> str:  # fmt: skip
    """The TwiML for an answered call: the menu for a person, the voicemail for a machine."""
    ctx = _load(session, call_id, attempt, sid)
    if ctx is None:
        return twiml.hang_up()
    event = CallEvent(call_id, attempt, sid, "in-progress", answered_by)
    apply_event(session, event, now, row=ctx)
    if ctx.opted_out_at is not None or ctx.no_calls or answered_by == FAX_ANSWER:
        return twiml.hang_up()  # pressed 9 (or STOP) since the call was placed; or a fax
    voice = ctx.voice or {}
    audio_url = _audio(ctx, audio_urls)
    if answered_by in MACHINE_ANSWERS:
        messages = voice.get("voicemail") or {}
        lang = ctx.language if ctx.language in messages else next(iter(messages), "en")
        text = render(messages.get(lang, ""), {"first_name": ctx.first_name})
        return twiml.voicemail(text, voice, lang, audio_url and audio_url(lang, "voicemail"))
    lang = _spoken_language(ctx)
    return twiml.person(
        _script(ctx), voice, lang, menu_url, audio_url and audio_url(lang, "script")
    )


def press(
    session: Session, call_id: int, attempt: int, sid: str, digits: str, now: datetime,
    menu_url: str, *, texts_too: bool, caller_id: str | None,
    redis_client: redis.Redis | None = None, audio_urls: AudioUrls | None = None,
) -> str:  # fmt: skip
    """A key pressed at the menu: 1-8 record their outcome once, 9 opts out, others repeat."""
    ctx = _load(session, call_id, attempt, sid)
    if ctx is None:
        return twiml.hang_up()
    voice = ctx.voice or {}
    lang = _spoken_language(ctx)
    digit = (digits or "")[:1]
    if digit == OPT_OUT_DIGIT:
        opt_out_of_calls(session, ctx.phone, ctx.member_id, ctx.campaign_id, now,
                         texts_too=texts_too, redis_client=redis_client)  # fmt: skip
        _remember_digit(session, call_id, digit, now)
        log.info("call row %s: member %s pressed 9", call_id, ctx.member_id)
        return twiml.opted_out(voice, lang, texts_too)
    choice = menu_choice(voice, digit) if digit else None
    if choice is None:
        audio_url = _audio(ctx, audio_urls)
        return twiml.person(_script(ctx), voice, lang, menu_url,
                            audio_url and audio_url(lang, "script"))  # fmt: skip
    note = f"pressed {digit} on a call"
    created = record_outcome(session, ctx.member_id, ctx.campaign_id, choice.outcome,
                             OutcomeSource.VOICE, now, note=note)  # fmt: skip
    _remember_digit(session, call_id, digit, now)
    log.info("call row %s: member %s pressed %s (%s, %s)", call_id, ctx.member_id, digit,
             choice.outcome, "new" if created else "already recorded")  # fmt: skip
    return twiml.recorded(voice, lang, choice.connect, caller_id)


_DIGIT = (
    update(C).where(C.c.id == bindparam("call_id"), C.c.digits.is_(None))
    .values(digits=bindparam("digit"), updated_at=bindparam("now"))
)  # fmt: skip


def _remember_digit(session: Session, call_id: int, digit: str, now: datetime) -> None:
    session.execute(_DIGIT, {"call_id": call_id, "digit": digit, "now": now})
