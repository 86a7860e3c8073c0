"""One member's history across campaigns: texts, a volunteer's messages, calls, replies,
outcomes and opt-outs, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from textbank.models import (
    Call,
    Campaign,
    InboundMessage,
    Member,
    OptOutEvent,
    OutboundMessage,
    Outcome,
    User,
)
from textbank.twilio.codes import CallStatus, error_meaning

PER_KIND = 200  # a member's page shows their recent history, not years of it

CLASSIFIED = {
    "opt_out": "asked to stop",
    "opt_in": "asked to start again",
    "help": "asked for help",
    "keyword": "answered a keyword",
    "stats": "asked for their local's numbers",
    "conversation": "wrote to a volunteer",
}
SOURCES = {
    "sms_keyword": "by text",
    "carrier": "by the carrier (the phone unsubscribed)",
    "suppression_list": "from a suppression list",
    "api": "through the API",
    "volunteer": "by a volunteer",
    "voice": "on a call",
    "console": "by a manager",
    "volunteer_tag": "tagged by a volunteer",
    "phone_bank": "at a phone bank",
    "event": "at an event",
}


@dataclass
class Event:
    at: datetime
    kind: str  # text | message | call | reply | outcome | opt_out | opt_in
    title: str
    body: str = ""
    campaign: str | None = None
    detail: str = ""


def _campaign_names(session: Session, ids: set[int]) -> dict[int | None, str]:
    if not ids:
        return {}
    rows = session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)))
    return {cid: name for cid, name in rows}


def call_detail(call: Call) -> str:
    """How a call went, in a manager's words."""
    if call.voicemail_at is not None:
        return "left a voicemail"
    if call.answered_at is not None:
        pressed = f"; pressed {call.digits}" if call.digits else "; pressed nothing"
        return f"answered, {call.seconds} s{pressed}"
    words = {
        CallStatus.NO_ANSWER: "no answer", CallStatus.BUSY: "busy",
        CallStatus.FAILED: "could not be placed", CallStatus.CANCELED: "cancelled",
        CallStatus.SKIPPED: "not called: opted out before their turn",
        CallStatus.DEFERRED: "waiting for their calling hours",
    }  # fmt: skip
    detail = words.get(CallStatus(call.status), call.status)
    if call.error_code:
        detail += f": {error_meaning(call.error_code)}"
    return detail


def timeline(session: Session, member: Member) -> list[Event]:
    """Every text, volunteer's message, call, reply, outcome and opt-out of one member,
    newest first."""
    texts = session.execute(
        select(OutboundMessage, User.email)
        .outerjoin(User, User.id == OutboundMessage.volunteer_id)
        .where(OutboundMessage.member_id == member.id)
        .order_by(OutboundMessage.created_at.desc())
        .limit(PER_KIND)
    ).all()
    calls = session.scalars(
        select(Call).where(Call.member_id == member.id).order_by(Call.created_at.desc())
        .limit(PER_KIND)
    ).all()  # fmt: skip
    replies = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.member_id == member.id)
        .order_by(InboundMessage.created_at.desc())
        .limit(PER_KIND)
    ).all()
    outcomes = session.scalars(
        select(Outcome)
        .where(Outcome.member_id == member.id)
        .order_by(Outcome.created_at.desc())
        .limit(PER_KIND)
    ).all()
    ledger = session.execute(
        select(OptOutEvent, User.email)
        .outerjoin(User, User.id == OptOutEvent.actor_id)
        .where(or_(OptOutEvent.member_id == member.id, OptOutEvent.phone == member.phone))
        .order_by(OptOutEvent.created_at.desc())
        .limit(PER_KIND)
    ).all()
    campaign_ids: set[int] = {t.campaign_id for t, _ in texts} | {c.campaign_id for c in calls}
    campaign_ids |= {r.campaign_id for r in replies if r.campaign_id is not None}
    campaign_ids |= {o.campaign_id for o in outcomes if o.campaign_id is not None}
    names = _campaign_names(session, campaign_ids)
    events: list[Event] = []
    for t, volunteer in texts:
        detail = t.status
        if t.error_code:
            detail += f": {error_meaning(t.error_code)}"
        elif t.status == "deferred" and t.send_after:
            detail += f" until {t.send_after:%Y-%m-%d %H:%M} UTC"
        # A volunteer's message in a conversation, or a P2P first text a volunteer sent.
        kind, title = "text", "Texted"
        if t.conversation_id is not None:
            kind, title = "message", "A volunteer wrote"
        if volunteer:
            title += f" ({volunteer})"
        events.append(Event(t.sent_at or t.created_at, kind, title, t.body,
                            names.get(t.campaign_id), detail))  # fmt: skip
    for c in calls:
        events.append(Event(c.placed_at or c.created_at, "call", "Called", "",
                            names.get(c.campaign_id), call_detail(c)))  # fmt: skip
    for r in replies:
        title = "Replied: " + CLASSIFIED.get(r.classification or "", "not yet read")
        detail = f"answered: {r.reply_body}" if r.reply_body else ""
        events.append(Event(r.created_at, "reply", title, r.body, names.get(r.campaign_id), detail))
    for o in outcomes:
        title = "Volunteered" if o.is_volunteer else f"Outcome: {o.name.replace('_', ' ')}"
        detail = SOURCES.get(o.source, o.source) + (f" — {o.note}" if o.note else "")
        events.append(Event(o.created_at, "outcome", title, "", names.get(o.campaign_id), detail))
    for e, actor in ledger:
        title = "Opted out" if e.kind == "opt_out" else "Opted back in"
        how = SOURCES.get(e.source, e.source) + (f" ({actor})" if actor else "")
        reason = f"; reason: {e.reason}" if e.reason else ""
        events.append(Event(e.created_at, e.kind, title, e.text or "", None, how + reason))
    events.sort(key=lambda ev: ev.at, reverse=True)
    return events
