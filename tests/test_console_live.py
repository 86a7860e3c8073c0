"""The live inbox: a reply is read and rendered once by the worker, published only to the
consoles allowed to see it, and relayed as it is by each open event stream."""

from __future__ import annotations

import queue as stdlib_queue
import threading
import time

import pytest
from blast_helpers import act_on_replies, inbound, signed_post
from sqlalchemy import select, update
from volunteer_helpers import PHONES, csrf, launch_p2p, sign_in, volunteer

from textbank.consoles import events
from textbank.conversations import live
from textbank.db import session_scope
from textbank.models import Campaign, Conversation, OutboundMessage, utcnow

DONE = "textbank:test:done"  # published last: every message before it has arrived
WAIT = 30.0  # seconds: generous, for a loaded machine; met at once when things work


@pytest.fixture
def sessions(console):
    return console.extensions["textbank.sessions"]


@pytest.fixture
def manager(sessions):
    from textbank.accounts import create_token

    volunteer(sessions, "manager@example.org", role="manager")
    with session_scope(sessions) as session:
        return {"Authorization": f"Bearer {create_token(session, 'manager@example.org')}"}


def _texted(console, sessions, manager):
    """Val texts her batch (recorded as the pipeline would); Bo is another volunteer."""
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    val_id = volunteer(sessions, "val@example.org")
    bo_id = volunteer(sessions, "bo@example.org")
    val = console.test_client()
    sign_in(val, "val@example.org")
    val.post(f"/volunteer/campaigns/{campaign_id}/batch",
             data={"csrf_token": csrf(val.get("/volunteer").text)})  # fmt: skip
    with session_scope(sessions) as session:
        rows = session.scalars(
            select(OutboundMessage).where(OutboundMessage.volunteer_id == val_id)
        )
        for i, row in enumerate(rows):
            row.status, row.twilio_sid, row.sent_at = "delivered", f"SM{i:032d}", utcnow()
    return campaign_id, val_id, bo_id, val


def _reply(console, body: str) -> None:
    settings = console.extensions["textbank.settings"]
    answered = signed_post(console.test_client(), settings, "/twilio/sms", inbound(PHONES[0], body))
    assert answered.status_code == 200
    act_on_replies(settings)  # the worker routes it, reads it once and publishes


def _published(redis_client, channels: list[str], act) -> dict[str, list[str]]:
    """What `act` published on each of `channels` (all of it: a marker published after it,
    on the same connection's subscription, arrives after everything before it)."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    names = {live.scoped(redis_client, c): c for c in channels}
    pubsub.subscribe(*names, DONE)
    got: dict[str, list[str]] = {c: [] for c in channels}
    try:
        act()
        redis_client.publish(DONE, "done")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            # None also stands for a subscription's confirmation, which is skipped.
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            if channel == DONE:
                return got
            got[names[channel]].append(message["data"].decode())
        raise AssertionError("the marker never arrived")
    finally:
        pubsub.close()


def _channels(val_id: int, bo_id: int) -> list[str]:
    return [live.user_channel(val_id), live.user_channel(bo_id), live.POOL_CHANNEL,
            live.MANAGERS_CHANNEL]  # fmt: skip


def test_a_reply_to_an_online_volunteer_goes_to_them_and_the_managers_only(
    console, sessions, manager, redis_client
):
    _, val_id, bo_id, _ = _texted(console, sessions, manager)
    live.seen(redis_client, val_id, utcnow())  # Val's console is open: the reply is hers
    live.seen(redis_client, bo_id, utcnow())
    got = _published(redis_client, _channels(val_id, bo_id),
                     lambda: _reply(console, "Where is it?"))  # fmt: skip
    with sessions() as session:
        conversation = session.scalar(select(Conversation))
    assert conversation.volunteer_id == val_id
    assert len(got[live.user_channel(val_id)]) == 1 and len(got[live.MANAGERS_CHANNEL]) == 1
    assert got[live.user_channel(bo_id)] == [] and got[live.POOL_CHANNEL] == []
    mine = got[live.user_channel(val_id)][0]
    assert "event: entry" in mine and f'data-holder="{val_id}"' in mine
    assert f"event: conv-{conversation.id}" in mine and "Where is it?" in mine


def test_a_reply_nobody_holds_goes_to_the_pool_and_the_managers(
    console, sessions, manager, redis_client
):
    _, val_id, bo_id, _ = _texted(console, sessions, manager)
    live.gone(redis_client, val_id)  # Val closed her console: the reply waits in the pool
    got = _published(redis_client, _channels(val_id, bo_id),
                     lambda: _reply(console, "Anyone there?"))  # fmt: skip
    assert got[live.user_channel(val_id)] == [] and got[live.user_channel(bo_id)] == []
    assert len(got[live.POOL_CHANNEL]) == 1 and len(got[live.MANAGERS_CHANNEL]) == 1
    assert 'data-holder=""' in got[live.POOL_CHANNEL][0]
    assert "Anyone there?" in got[live.POOL_CHANNEL][0]


def test_a_conversation_volunteers_may_not_take_goes_to_the_managers_only(
    console, sessions, manager, redis_client
):
    campaign_id, val_id, bo_id, _ = _texted(console, sessions, manager)
    live.gone(redis_client, val_id)
    with session_scope(sessions) as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id)
                        .values(volunteer_replies=False))  # fmt: skip
    got = _published(redis_client, _channels(val_id, bo_id),
                     lambda: _reply(console, "Who is this?"))  # fmt: skip
    assert got[live.POOL_CHANNEL] == [] and got[live.user_channel(bo_id)] == []
    assert got[live.user_channel(val_id)] == []
    assert len(got[live.MANAGERS_CHANNEL]) == 1


def test_what_is_published_escapes_member_text_and_carries_no_phone_number(
    console, sessions, manager, redis_client
):
    _, val_id, bo_id, _ = _texted(console, sessions, manager)
    live.seen(redis_client, val_id, utcnow())
    body = '<img src=x onerror="alert(1)"> & <b>hi</b>'
    got = _published(redis_client, _channels(val_id, bo_id), lambda: _reply(console, body))
    payloads = [p for published in got.values() for p in published]
    assert len(payloads) == 2
    for payload in payloads:
        assert "<img" not in payload and "<b>" not in payload
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;hi&lt;/b&gt;" in payload
        assert PHONES[0] not in payload and PHONES[0][2:] not in payload
        assert "617-555-0101" not in payload and "(617) 555-0101" not in payload


def test_the_stream_listens_to_the_users_channels_only():
    assert events.channels_of(7, manager=False) == [live.user_channel(7), live.POOL_CHANNEL]
    assert events.channels_of(7, manager=True) == [live.MANAGERS_CHANNEL]


def test_channels_are_kept_apart_by_redis_database():
    """Pub/sub ignores the database number: two textbanks on one Redis server (or a test
    beside a benchmark) must not hear each other's conversations."""
    import redis

    one = redis.Redis.from_url("redis://127.0.0.1:6379/3")
    other = redis.Redis.from_url("redis://127.0.0.1:6379/4")
    channel = live.user_channel(2)
    assert live.scoped(one, channel) != live.scoped(other, channel)


def test_a_reply_reaches_an_open_console(console, sessions, manager, redis_client, monkeypatch):
    monkeypatch.setattr(events, "KEEPALIVE", 0.2)  # the stream's loop turns often: it can stop
    _, val_id, _, val = _texted(console, sessions, manager)
    stream = val.get("/volunteer/events", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    chunks: stdlib_queue.Queue[str] = stdlib_queue.Queue()
    stop = threading.Event()

    def read() -> None:
        for chunk in stream.response:
            chunks.put(chunk.decode() if isinstance(chunk, bytes) else chunk)
            if stop.is_set():
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert "connected" in chunks.get(timeout=WAIT)  # subscribed before this is sent
    _reply(console, "Is there parking? <yes>")
    with sessions() as session:
        conversation_id = session.scalar(select(Conversation.id))
    seen = ""
    while f"event: conv-{conversation_id}" not in seen or "Is there parking?" not in seen:
        seen += chunks.get(timeout=WAIT)
    assert "&lt;yes&gt;" in seen and PHONES[0] not in seen
    assert "event: entry" in seen and f'data-holder="{val_id}"' in seen
    stop.set()
    reader.join(timeout=WAIT)
    stream.close()
