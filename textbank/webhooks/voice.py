"""POST /twilio/voice and /twilio/voice/status: calls to our number, answered in TwiML."""

from __future__ import annotations

import logging

from flask import Response, request, url_for
from sqlalchemy import select
from twilio.twiml.voice_response import Gather, VoiceResponse

from textbank.compliance.optouts import opt_out
from textbank.engagement.outcomes import record_outcome
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import VOLUNTEER_OUTCOME, Member, OptOutSource, OutcomeSource, utcnow
from textbank.replies.handling import attribute_campaign, policy_from_settings
from textbank.web import redis_ext, settings
from textbank.web.database import db
from textbank.webhooks import bp
from textbank.webhooks.signature import twilio_signed

log = logging.getLogger(__name__)
VOLUNTEER_DIGIT, STOP_DIGIT = "1", "9"


def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="application/xml")


def _caller_phone() -> str | None:
    try:
        return to_e164(request.form.get("From", ""))
    except InvalidPhone:
        return None  # withheld or odd caller ids


@bp.post("/voice")
@twilio_signed
def voice_answer():
    """Greet the caller and offer the two things a member can do by keypad."""
    org = settings().org_name
    digits = request.form.get("Digits")
    response = VoiceResponse()
    if digits is None:
        gather = Gather(num_digits=1, action=url_for("twilio.voice_answer"), method="POST",
                        timeout=6)  # fmt: skip
        gather.say(f"Thanks for calling {org}. To volunteer with your union, press 1. "
                   "To stop calls and texts from us, press 9.")  # fmt: skip
        response.append(gather)
        response.say("We did not get a choice. Goodbye.")
        return _xml(response)
    session = db()
    phone, now = _caller_phone(), utcnow()
    member = session.scalar(select(Member).where(Member.phone == phone)) if phone else None
    if digits == VOLUNTEER_DIGIT and member is not None:
        window = policy_from_settings(settings()).attribution_window
        campaign = attribute_campaign(session.connection(), member.id, now, window)
        record_outcome(session, member.id, campaign.id if campaign else None, VOLUNTEER_OUTCOME,
                       OutcomeSource.VOICE, now, note="pressed 1 on a call")  # fmt: skip
        response.say("Thank you! An organizer will be in touch soon. Goodbye.")
    elif digits == VOLUNTEER_DIGIT:
        response.say("Thank you! We could not find your number on our member list; "
                     "please text us your name. Goodbye.")  # fmt: skip
    elif digits == STOP_DIGIT and phone:
        opt_out(session, phone, OptOutSource.VOICE, now, text="pressed 9 on a call",
                client=redis_ext.client())  # fmt: skip
        response.say(f"You will get no more calls or texts from {org}. Goodbye.")
    elif digits == STOP_DIGIT:
        # A withheld or unreadable caller id: nothing to put on the list, so say how to stop.
        response.say(
            "We cannot see your phone number, so we could not stop calls and texts to it. "
            "Please text STOP to this number from your phone. Goodbye."
        )
    else:
        response.say("Sorry, that is not one of the choices. Goodbye.")
    session.commit()
    return _xml(response)


@bp.post("/voice/status")
@twilio_signed
def voice_status():
    log.info("call %s: %s (%s s)", request.form.get("CallSid"), request.form.get("CallStatus"),
             request.form.get("CallDuration", "0"))  # fmt: skip
    return "", 204
