"""The reply webhook's plain-WSGI path (textbank.webhooks.fast_sms) and its group commit.

A plain signed reply is stored, handed to the workers and answered without Flask; every
other request reaches the Flask route as it came, and is answered as it always was.
"""

import threading
import time
from datetime import timedelta

import pytest
from blast_helpers import inbound, seed, signed_post
from sqlalchemy import func, select

from textbank import enqueue
from textbank.db import session_scope
from textbank.models import InboundMessage, utcnow
from textbank.replies.batch import GroupStore, _Reply
from textbank.webhooks.fast_sms import FastReplies
from textbank.webhooks.sms import NO_ANSWER

ANA = "+16175550101"


@pytest.fixture
def flask_calls(app):
    """How many requests reached Flask behind the fast path."""
    fast = app.wsgi_app  # the fast paths are chained (status, call status, replies)
    while not isinstance(fast, FastReplies):
        fast = fast.app
    calls = []
    inner = fast.app

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    fast.app = counting
    return calls


def _stored(sessions) -> list[tuple[str, str]]:
    with session_scope(sessions) as session:
        rows = session.execute(select(InboundMessage.twilio_sid, InboundMessage.body))
        return sorted(tuple(r) for r in rows)


def test_plain_reply_is_stored_queued_and_answered_without_flask(
    client, settings, sessions, redis_client, flask_calls
):
    seed(sessions, [("Ana", ANA, "1199", "es")])
    params = inbound(ANA, "Where do I vote?")
    response = signed_post(client, settings, "/twilio/sms", params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.get_data(as_text=True) == NO_ANSWER
    assert flask_calls == []
    assert _stored(sessions) == [(params["MessageSid"], "Where do I vote?")]
    with session_scope(sessions) as session:
        inbound_id = session.scalar(select(InboundMessage.id))
        kept = session.scalar(select(InboundMessage.params))
    assert kept == params  # every field Twilio posted
    assert redis_client.lrange(enqueue.REPLY_IDS, 0, -1) == [str(inbound_id).encode()]
    # Twilio retrying it: answered the same, stored and queued once.
    assert signed_post(client, settings, "/twilio/sms", params).status_code == 200
    assert len(_stored(sessions)) == 1
    assert redis_client.llen(enqueue.REPLY_IDS) == 1


@pytest.mark.parametrize(
    ("body", "extra", "status"),
    [
        ("STOP", {}, 200),  # acted on and answered in the request: Flask's route
        ("help", {}, 200),
        ("nul\x00here", {}, 200),  # stored without the NUL by the Flask route
        ("hi", {"MessageSid": "SM" + "1" * 40}, 400),  # no Twilio SID
        ("hi", {"AccountSid": "AC" + "1" * 40}, 400),
        ("hi", {"From": "+1" * 20}, 400),
        ("hi", {"MessageSid": ""}, 400),
    ],
)
def test_anything_but_a_plain_reply_goes_to_the_flask_route(
    client, settings, sessions, flask_calls, body, extra, status
):
    params = {**inbound(ANA, body), **extra}
    assert signed_post(client, settings, "/twilio/sms", params).status_code == status
    assert flask_calls == ["/twilio/sms"]


def test_forged_oversized_and_odd_requests_are_refused_by_the_flask_route(
    client, settings, sessions, flask_calls
):
    params = inbound(ANA, "hi")
    assert signed_post(client, settings, "/twilio/sms", params, "forged").status_code == 403
    assert client.post("/twilio/sms", data=params).status_code == 403  # unsigned
    big = {**params, "Body": "x" * 70_000}
    assert signed_post(client, settings, "/twilio/sms", big).status_code == 413
    many = {**params, **{f"F{i}": "1" for i in range(250)}}
    assert signed_post(client, settings, "/twilio/sms", many).status_code == 413
    assert len(flask_calls) == 4
    assert _stored(sessions) == []
    # A query string is part of what Twilio signed: the Flask route checks it (and keeps it).
    assert signed_post(client, settings, "/twilio/sms?x=1", params).status_code == 200
    assert len(flask_calls) == 5
    assert _stored(sessions) == [(params["MessageSid"], "hi")]


def _group(app, handed) -> GroupStore:
    return GroupStore(app.extensions["textbank.autocommit_engine"], handed)


def test_replies_arriving_together_share_one_write(app, sessions):
    """While one write is in flight the others wait, and go together in the next."""
    handed: list[list[int]] = []

    def slow_hand(ids):
        # The first batch's hand-off lasts until the rest have arrived and wait their turn.
        deadline = time.monotonic() + 10
        while not handed and len(group._pending) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        handed.append(ids)

    group = _group(app, slow_hand)
    now = utcnow()
    results: dict[int, int | None] = {}

    def reply(i: int) -> None:
        results[i] = group.store(inbound(ANA, f"reply {i}"), now)

    first = threading.Thread(target=reply, args=(0,))
    first.start()
    while not group._busy or group._pending:  # the first is writing its batch of one
        time.sleep(0.001)
    rest = [threading.Thread(target=reply, args=(i,)) for i in range(1, 9)]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(10)
    assert sorted(len(batch) for batch in handed) == [1, 8]
    ids = [results[i] for i in range(9)]
    assert None not in ids and len(set(ids)) == 9
    assert sorted(i for batch in handed for i in batch) == sorted(ids)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 9


def test_a_retry_in_the_same_batch_and_a_refused_row_spoil_nothing(app, sessions):
    handed: list[list[int]] = []
    group = _group(app, handed.append)
    now = utcnow()
    one, two = inbound(ANA, "one"), inbound(ANA, "two")
    refused = {**inbound(ANA, "no sender"), "From": None}  # the database refuses it
    batch = [_Reply(one, now), _Reply(one, now), _Reply(refused, now), _Reply(two, now)]
    group._write(batch)
    first, retry, bad, second = batch
    assert first.inbound_id is not None and retry.inbound_id is None  # stored once
    assert bad.error is not None and bad.inbound_id is None
    assert second.inbound_id is not None and second.error is None
    assert handed[-1] == [first.inbound_id, second.inbound_id]
    assert [body for _, body in _stored(sessions)] == sorted(["one", "two"])


def test_a_failing_hand_off_still_answers_and_the_sweep_finds_the_reply(app, sessions):
    def redis_down(ids):
        raise ConnectionError("redis unreachable")

    group = _group(app, redis_down)
    inbound_id = group.store(inbound(ANA, "hello"), utcnow())
    assert inbound_id is not None
    from textbank.replies.handling import unprocessed

    assert unprocessed(sessions, utcnow() + timedelta(minutes=1)) == [inbound_id]
