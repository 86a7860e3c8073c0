"""The sandbox plays outbound calls as Twilio does: progress callbacks, AMD, keys, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from test_sandbox import SENDER, assert_signed, settings_for, wait_until
from test_sandbox import receiver as receiver
from test_sandbox import twilio as twilio

from textbank.twilio.clients import rest_client

MENU = '<Response><Gather action="/voice/menu" numDigits="1"><Say>Press 1</Say></Gather></Response>'
EVENTS = ["initiated", "ringing", "answered", "completed"]


def _call(twilio, receiver, to: str, **extra):
    return twilio.calls.create(to=to, from_=SENDER, url=receiver.url + "/voice",
                               status_callback=receiver.url + "/status",
                               status_callback_event=EVENTS, **extra)  # fmt: skip


def _statuses(receiver, sid: str) -> list[str]:
    return [
        r["params"]["CallStatus"] for r in receiver.at("/status") if r["params"]["CallSid"] == sid
    ]


def test_a_person_answers_presses_a_key_and_every_event_is_posted(sandbox, twilio, receiver):
    receiver.routes["/voice"] = (200, MENU)
    receiver.routes["/voice/menu"] = (200, "<Response><Say>Thanks</Say><Hangup/></Response>")
    sandbox.configure(call_digits="1")
    call = _call(twilio, receiver, "+16175550101", machine_detection="DetectMessageEnd", timeout=20)
    wait_until(lambda: "completed" in _statuses(receiver, call.sid))
    assert _statuses(receiver, call.sid) == ["queued", "ringing", "in-progress", "completed"]
    for request in receiver.requests:
        assert_signed(request)
    (answer,) = receiver.at("/voice")
    assert answer["params"]["AnsweredBy"] == "human"
    (menu,) = receiver.at("/voice/menu")
    assert menu["params"]["Digits"] == "1"
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.answered_by == "human"


def test_a_call_not_played_is_stored_and_answered_but_never_rings(sandbox, twilio, receiver):
    """play_calls off (bench_voice --carrier light): the create is answered and listed, and
    nothing reaches the app; the same carrier plays the next call once it is back on."""
    receiver.routes["/voice"] = (200, MENU)
    sandbox.configure(play_calls=False)
    quiet = _call(twilio, receiver, "+16175550107")
    sandbox.configure(play_calls=True, call_digits="")
    played = _call(twilio, receiver, "+16175550108")
    wait_until(lambda: "completed" in _statuses(receiver, played.sid))
    assert _statuses(receiver, quiet.sid) == [] and len(receiver.at("/voice")) == 1
    assert twilio.calls(quiet.sid).fetch().status == "queued"


def test_a_machine_gets_the_voicemail_and_no_key(sandbox, twilio, receiver):
    receiver.routes["/voice"] = (200, MENU)
    sandbox.configure(call_digits="1", machine_rate=1.0)
    call = _call(twilio, receiver, "+16175550102", machine_detection="DetectMessageEnd")
    wait_until(lambda: "completed" in _statuses(receiver, call.sid))
    assert receiver.at("/voice")[0]["params"]["AnsweredBy"] == "machine_end_beep"
    assert receiver.at("/voice/menu") == []
    completed = [r for r in receiver.at("/status") if r["params"]["CallStatus"] == "completed"]
    assert completed[0]["params"]["AnsweredBy"] == "machine_end_beep"


def test_unanswered_calls_end_with_their_status_and_no_twiml(sandbox, twilio, receiver):
    sandbox.configure(no_answer_rate=1.0)
    quiet = _call(twilio, receiver, "+16175550103")
    requests.post(f"{sandbox.url}/sandbox/calls/plan",
                  json={"phone": "+16175550104", "answer": "busy"}, timeout=5)  # fmt: skip
    busy = _call(twilio, receiver, "+16175550104")
    wait_until(lambda: len(_statuses(receiver, quiet.sid)) == 3
               and len(_statuses(receiver, busy.sid)) == 3)  # fmt: skip
    assert _statuses(receiver, quiet.sid)[-1] == "no-answer"
    assert _statuses(receiver, busy.sid)[-1] == "busy"
    assert receiver.at("/voice") == []
    done = [r for r in receiver.at("/status") if r["params"]["CallSid"] == busy.sid][-1]
    assert done["params"]["CallDuration"] == "0"


def test_calls_are_listed_by_number_and_start_time(sandbox, twilio, receiver):
    sandbox.configure(no_answer_rate=1.0)
    before = datetime.now(UTC) - timedelta(seconds=2)
    first = _call(twilio, receiver, "+16175550105")
    second = _call(twilio, receiver, "+16175550105")
    _call(twilio, receiver, "+16175550106")
    listed = twilio.calls.list(to="+16175550105", start_time_after=before)
    assert [c.sid for c in listed] == [second.sid, first.sid]  # newest first, like Twilio
    assert (
        twilio.calls.list(
            to="+16175550105", start_time_after=datetime.now(UTC) + timedelta(minutes=1)
        )
        == []
    )
    assert len(twilio.calls.list(from_=SENDER, page_size=1, limit=3)) == 3  # across pages


def test_call_plans_and_creates_are_checked(sandbox, twilio, tmp_path):
    bad = requests.post(f"{sandbox.url}/sandbox/calls/plan",
                        json={"phone": "+16175550107", "answer": "maybe"}, timeout=5)  # fmt: skip
    assert bad.status_code == 400 and "answer must be one of" in bad.json()["error"]
    client = rest_client(settings_for(sandbox, tmp_path), timeout=5)
    import pytest
    from twilio.base.exceptions import TwilioRestException

    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to="+16175550107", from_=SENDER, url="http://x/voice", timeout=0)
    assert refused.value.status == 400
