"""POST /twilio/sms: a member's reply, stored first, answered in TwiML."""

from __future__ import annotations

import logging

from flask import Response, request
from twilio.twiml.messaging_response import MessagingResponse

from textbank.models import InboundMessage, utcnow
from textbank.replies import policy_from_settings, process_inbound, store_inbound
from textbank.web import redis_ext, settings
from textbank.web.database import db
from textbank.webhooks import bp
from textbank.webhooks.signature import twilio_signed

log = logging.getLogger(__name__)


def twiml(reply: str | None = None) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), mimetype="application/xml")


@bp.post("/sms")
@twilio_signed
def inbound_sms():
    if not request.form.get("MessageSid") or not request.form.get("From"):
        return {"error": "MessageSid and From are required"}, 400
    session = db()
    now = utcnow()
    stored = store_inbound(session, request.form, now)
    session.commit()  # the reply is safe before we try to understand it
    if stored is None:
        return twiml()  # Twilio retrying: answered the first time, never answer twice
    inbound_id = stored.id
    try:
        decision = process_inbound(
            session, inbound_id, policy_from_settings(settings()), now, redis_ext.client(),
            stored=stored,
        )  # fmt: skip
        session.commit()
    except Exception as exc:
        # Stored and flagged: the sweeper processes it again; Twilio still gets a quick answer.
        session.rollback()
        log.exception("inbound %s: processing failed", inbound_id)
        session.query(InboundMessage).filter_by(id=inbound_id).update(
            {"error": f"{type(exc).__name__}: {exc}"[:300]}
        )
        session.commit()
        return twiml()
    return twiml(decision.reply)
