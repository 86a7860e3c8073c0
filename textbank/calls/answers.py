"""In the call: what a person or a machine hears, and what a key press records."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from textbank.calls import twiml
from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.optouts import opt_out_of_calls
from textbank.calls.script import OPT_OUT_DIGIT, menu_choice
from textbank.campaigns.rendering import render
from textbank.engagement.outcomes import record_outcome
from textbank.models import Call, CallOptOut, Campaign, Local, Member, OutcomeSource, table
from textbank.twilio.codes import FAX_ANSWER, MACHINE_ANSWERS

log = logging.getLogger(__name__)
C = table(Call)


@dataclass(frozen=True)
class CallContext:
    call: Call
    campaign: Campaign
    member: Member
    local: str | None


def _load(session: Session, call_id: int, attempt: int, sid: str) -> CallContext | None:
    """The call row this request is about, if the request is about its current attempt."""
    # One round trip for the call, its campaign, its member and their local.
    found = session.execute(
        select(Call, Campaign, Member, Local.number)
        .join(Campaign, Campaign.id == Call.campaign_id)
        .join(Member, Member.id == Call.member_id)
        .outerjoin(Local, Local.id == Member.local_id)
        .where(Call.id == call_id)
    ).first()
    if found is None or found[0].attempts != attempt or found[0].twilio_sid not in (None, sid):
        log.warning("call %s: request for call row %s attempt %s, not current", sid, call_id,
                    attempt)  # fmt: skip
        return None
    call, campaign, member, local = found
    return CallContext(call, campaign, member, local)


def _script(ctx: CallContext) -> str:
    template = ctx.campaign.translations.get(ctx.call.language) or ctx.campaign.message
    m = ctx.member
    return render(template, {"first_name": m.first_name, "last_name": m.last_name,
                             "local": ctx.local, "worksite": m.worksite})  # fmt: skip


def _spoken_language(ctx: CallContext) -> str:
    lang = ctx.call.language
    return lang if lang in ctx.campaign.translations else "en"


def answer(
    session: Session, call_id: int, attempt: int, sid: str, answered_by: str | None,
    now: datetime, menu_url: str, audio_url=None,
) -> str:  # fmt: skip
    """The TwiML for an answered call: the menu for a person, the voicemail for a machine."""
    ctx = _load(session, call_id, attempt, sid)
    if ctx is None:
        return twiml.hang_up()
    apply_event(session, CallEvent(call_id, attempt, sid, "in-progress", answered_by), now)
    opted_out = ctx.member.opted_out_at is not None or session.scalar(
        select(func.count()).where(CallOptOut.phone == ctx.call.phone)
    )
    if opted_out or answered_by == FAX_ANSWER:
        return twiml.hang_up()  # pressed 9 (or STOP) since the call was placed; or a fax
    voice = ctx.campaign.voice or {}
    if answered_by in MACHINE_ANSWERS:
        messages = voice.get("voicemail") or {}
        lang = ctx.call.language if ctx.call.language in messages else next(iter(messages), "en")
        text = render(messages.get(lang, ""), {"first_name": ctx.member.first_name})
        return twiml.voicemail(text, voice, lang, audio_url and audio_url(lang, "voicemail"))
    lang = _spoken_language(ctx)
    return twiml.person(
        _script(ctx), voice, lang, menu_url, audio_url and audio_url(lang, "script")
    )


def press(
    session: Session, call_id: int, attempt: int, sid: str, digits: str, now: datetime,
    menu_url: str, *, texts_too: bool, caller_id: str | None,
    redis_client: redis.Redis | None = None, audio_url=None,
) -> str:  # fmt: skip
    """A key pressed at the menu: 1-8 record their outcome once, 9 opts out, others repeat."""
    ctx = _load(session, call_id, attempt, sid)
    if ctx is None:
        return twiml.hang_up()
    voice = ctx.campaign.voice or {}
    lang = _spoken_language(ctx)
    digit = (digits or "")[:1]
    if digit == OPT_OUT_DIGIT:
        opt_out_of_calls(session, ctx.call.phone, ctx.member.id, ctx.campaign.id, now,
                         texts_too=texts_too, redis_client=redis_client)  # fmt: skip
        _remember_digit(session, call_id, digit, now)
        log.info("call row %s: member %s pressed 9", call_id, ctx.member.id)
        return twiml.opted_out(voice, lang, texts_too)
    choice = menu_choice(voice, digit) if digit else None
    if choice is None:
        return twiml.person(_script(ctx), voice, lang, menu_url,
                            audio_url and audio_url(lang, "script"))  # fmt: skip
    note = f"pressed {digit} on a call"
    created = record_outcome(session, ctx.member.id, ctx.campaign.id, choice.outcome,
                             OutcomeSource.VOICE, now, note=note)  # fmt: skip
    _remember_digit(session, call_id, digit, now)
    log.info("call row %s: member %s pressed %s (%s, %s)", call_id, ctx.member.id, digit,
             choice.outcome, "new" if created else "already recorded")  # fmt: skip
    return twiml.recorded(voice, lang, choice.connect, caller_id)


def _remember_digit(session: Session, call_id: int, digit: str, now: datetime) -> None:
    session.execute(
        update(C).where(C.c.id == call_id, C.c.digits.is_(None))
        .values(digits=digit, updated_at=now)
    )  # fmt: skip
