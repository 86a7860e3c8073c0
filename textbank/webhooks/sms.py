"""POST /twilio/sms: a member's reply, stored first, answered in TwiML."""

from __future__ import annotations

import logging
from functools import lru_cache

from flask import Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from textbank.db import planned_once
from textbank.models import utcnow
from textbank.replies.handling import (
    ReplyPolicy,
    policy_from_settings,
    process_inbound,
    receive,
    record_failure,
)
from textbank.web import redis_ext, settings
from textbank.web.database import autocommit_engine
from textbank.webhooks import bp
from textbank.webhooks.signature import twilio_signed

log = logging.getLogger(__name__)


NO_ANSWER = str(MessagingResponse())  # most replies wait for a human: no need to build it


@lru_cache(maxsize=1024)
def _answer(reply: str) -> str:
    # Most answers are the same few texts (HELP, the opt-out confirmation, a campaign's
    # thanks): built once each, not once per reply.
    response = MessagingResponse()
    response.message(reply)
    return str(response)


def twiml(reply: str | None = None) -> Response:
    return Response(_answer(reply) if reply else NO_ANSWER, mimetype="application/xml")


@bp.post("/sms")
@twilio_signed
def inbound_sms():
    if not request.form.get("MessageSid") or not request.form.get("From"):
        return {"error": "MessageSid and From are required"}, 400
    now, policy = utcnow(), _policy()
    # One connection for the whole reply, outside the ORM: this is the hottest path there is.
    with autocommit_engine().connect() as conn, planned_once(conn):
        received = receive(conn, request.form, policy, now)
        conn.commit()  # the reply is safe (on PostgreSQL, already) before we act on it
        if received is None:
            return twiml()  # Twilio retrying: answered the first time, never answer twice
        try:
            decision = process_inbound(conn, received, policy, now, redis_ext.client())
            conn.commit()
        except Exception as exc:
            # Stored and flagged: the sweeper processes it again; Twilio still gets a quick answer.
            conn.rollback()
            log.exception("inbound %s: processing failed", received.id)
            record_failure(conn, received.id, exc)
            conn.commit()
            return twiml()
    return twiml(decision.reply)


def _policy() -> ReplyPolicy:
    app = current_app
    policy = app.extensions.get("textbank.reply_policy")
    if policy is None:
        policy = app.extensions["textbank.reply_policy"] = policy_from_settings(settings())
    return policy
