"""The console's live feed: Server-Sent Events fed by Redis pub/sub."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import redis
from flask import Blueprint, Response, render_template, stream_with_context
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from textbank.consoles.common import EVERYONE, me
from textbank.conversations import inbox, live, threads
from textbank.models import InboundMessage, User, utcnow
from textbank.web import redis_ext
from textbank.web.auth import login_required, secure_headers
from textbank.web.database import db, session_factory

log = logging.getLogger(__name__)
bp = Blueprint("events", __name__)
bp.after_request(secure_headers)

KEEPALIVE = 15.0  # seconds between comments that keep proxies from closing the stream
VISIBLE_TRIES = 40  # a reply published before its transaction commits (SQLite) is awaited


def sse(event: str, html: str) -> str:
    """One event; every line of the payload on a data: line of its own."""
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n\n"


def _await_visible(session: Session, inbound_id: int | None) -> None:
    if inbound_id is None:
        return
    seen = exists().where(InboundMessage.id == inbound_id, InboundMessage.processed_at.is_not(None))
    for _ in range(VISIBLE_TRIES):
        if session.scalar(select(seen)):
            return
        session.rollback()
        time.sleep(0.025)


def render_event(user_id: int, event: dict) -> str:
    """The lists, and the conversation's thread if this user may see it, as SSE events."""
    with session_factory()() as session:
        _await_visible(session, event.get("inbound_id"))
        user = session.get(User, user_id)
        if user is None or not user.active:
            return ""
        lists = {"mine": inbox.inbox(session, user), "pool": inbox.pool(session, user)}
        out = sse("lists", render_template("volunteer/_lists.html", **lists))
        try:
            c = threads.open_conversation(session, user, int(event["conversation_id"]))
        except (LookupError, KeyError, ValueError):
            return out
        t = threads.lines_of(session, c)
        lines = render_template("volunteer/_lines.html", t=t, viewer_id=user_id)
        if t.opted_out:  # the open thread says so and stops offering Reply
            lines += render_template("volunteer/_opted_out_live.html", t=t, c=c)
        out += sse(f"conv-{c.id}", lines)
        return out


@bp.get("/volunteer/events")
@login_required(EVERYONE)
def stream():
    user_id = me().id
    client = redis_ext.client()
    live.seen(client, user_id, utcnow())
    db().close()  # no transaction held open for the life of the stream

    def events() -> Iterator[str]:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(live.user_channel(user_id), live.POOL_CHANNEL)
        last_beat = time.monotonic()
        try:
            yield "retry: 1000\n: connected\n\n"
            while True:
                message = pubsub.get_message(timeout=KEEPALIVE)
                if time.monotonic() - last_beat >= KEEPALIVE:
                    live.seen(client, user_id, utcnow())
                    last_beat = time.monotonic()
                    yield ": keepalive\n\n"
                if message is None:
                    continue
                try:
                    payload = render_event(user_id, json.loads(message["data"]))
                except (ValueError, TypeError):
                    log.warning("user %s: unreadable console event %r", user_id, message["data"])
                    continue
                if payload:
                    yield payload
        except redis.RedisError as exc:
            log.warning("user %s: event stream ended (%s); the browser reconnects", user_id, exc)
        finally:
            pubsub.close()

    return Response(
        stream_with_context(events()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
