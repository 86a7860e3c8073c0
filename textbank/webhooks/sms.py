"""POST /twilio/sms: a member's reply, stored first; Twilio is answered at once.

Most replies (keywords, questions) are stored with one statement and queued for the worker,
and Twilio gets an empty answer: the webhook's cost is the store's, and a burst waits in
Redis and PostgreSQL rather than in Twilio's retries. STOP, START, HELP and STATS are acted
on here and answered in TwiML (see answered_in_request).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

import redis
from flask import Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from textbank import enqueue
from textbank.db import planned_once
from textbank.models import utcnow
from textbank.replies.handling import (
    ReplyPolicy,
    answered_in_request,
    policy_from_settings,
    process_inbound,
    push,
    receive,
    record_failure,
)
from textbank.replies.store import storable, store
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


# Twilio's own limits (a SID is 34 characters); longer is no Twilio request, and the
# database would refuse it.
_LIMITS = {"MessageSid": 34, "From": 32, "To": 32}


@bp.post("/sms")
@twilio_signed
def inbound_sms():
    form = request.form
    if not form.get("MessageSid") or not form.get("From"):
        return {"error": "MessageSid and From are required"}, 400
    for name, most in _LIMITS.items():
        if len(form.get(name, "")) > most:
            return {"error": f"{name} is longer than {most} characters"}, 400
    params, now, policy = storable(form), utcnow(), _policy()
    if answered_in_request(params.get("Body", ""), policy):
        return _act_now(params, policy, now)
    with autocommit_engine().connect() as conn, planned_once(conn):
        inbound_id = store(conn, params, now)
        conn.commit()  # on PostgreSQL, already: kept before Twilio is answered
    if inbound_id is not None:  # None: Twilio retrying one we have (and queued)
        try:
            enqueue.reply(redis_ext.client(), inbound_id)
        except redis.RedisError as exc:
            # Stored: the sweep finds replies nobody acted on and queues them again.
            log.warning("inbound %s: not queued (%s); the sweep will pick it up", inbound_id,
                        exc)  # fmt: skip
    return twiml()


def _act_now(params: Mapping[str, str], policy: ReplyPolicy, now: datetime) -> Response:
    """STOP, START, HELP, STATS: stored, acted on and answered in this request."""
    client = redis_ext.client()
    # One connection for the whole reply, outside the ORM.
    with autocommit_engine().connect() as conn, planned_once(conn):
        received = receive(conn, params, policy, now)
        conn.commit()  # the reply is safe (on PostgreSQL, already) before we act on it
        if received is None:
            return twiml()  # Twilio retrying: answered the first time, never answer twice
        try:
            decision = process_inbound(conn, received, policy, now, client)
            conn.commit()
        except Exception as exc:
            # Stored and flagged: the sweep queues it again; Twilio still gets a quick answer.
            conn.rollback()
            log.exception("inbound %s: processing failed", received.id)
            record_failure(conn, received.id, exc)
            conn.commit()
            return twiml()
        updates = push(conn, client, decision, received.id, now)
        conn.commit()
    for update in updates:
        update.publish(client)
    return twiml(decision.reply)


def _policy() -> ReplyPolicy:
    app = current_app
    policy = app.extensions.get("textbank.reply_policy")
    if policy is None:
        policy = app.extensions["textbank.reply_policy"] = policy_from_settings(settings())
    return policy
