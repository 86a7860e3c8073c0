"""The console's live feed: Server-Sent Events relayed from Redis pub/sub.

What a console is sent was rendered once by the worker that routed the reply
(textbank.conversations.feed), on the channels this user may read: a volunteer's own and
the pool's, or the managers'. The stream reads nothing from the database per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from flask import Blueprint, Response, stream_with_context

from textbank.consoles.common import EVERYONE, me
from textbank.conversations import live
from textbank.conversations.threads import is_manager
from textbank.models import utcnow
from textbank.web import redis_ext
from textbank.web.auth import login_required, secure_headers
from textbank.web.database import db

log = logging.getLogger(__name__)
bp = Blueprint("events", __name__)
bp.after_request(secure_headers)

KEEPALIVE = 15.0  # seconds between comments that keep proxies from closing the stream


def channels_of(user_id: int, manager: bool) -> list[str]:
    """What a console listens to: managers see every conversation; a volunteer theirs and
    the pool's (never another volunteer's: those go to that volunteer's channel only)."""
    if manager:
        return [live.MANAGERS_CHANNEL]
    return [live.user_channel(user_id), live.POOL_CHANNEL]


@bp.get("/volunteer/events")
@login_required(EVERYONE)
def stream():
    user = me()
    user_id, listens = user.id, channels_of(user.id, is_manager(user))
    client = redis_ext.client()
    live.seen(client, user_id, utcnow())
    db().close()  # no transaction held open for the life of the stream

    def events() -> Iterator[str]:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(*(live.scoped(client, channel) for channel in listens))
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
                    yield message["data"].decode()
                except (AttributeError, UnicodeDecodeError):
                    log.warning("user %s: unreadable console event %r", user_id, message["data"])
        except redis.RedisError as exc:
            log.warning("user %s: event stream ended (%s); the browser reconnects", user_id, exc)
        finally:
            pubsub.close()

    return Response(
        stream_with_context(events()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
