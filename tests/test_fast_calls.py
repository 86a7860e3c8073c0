"""A campaign call's answer TwiML and menu key served in front of Flask (webhooks.fast_calls).

The fast path answers exactly as the Flask routes do (the same TwiML per language, answer
and key); a forged signature is still refused, and anything unusual reaches the route.
"""

from __future__ import annotations

import dataclasses

import pytest
from blast_helpers import seed, signed_post
from voice_helpers import voice_campaign
from werkzeug.test import Client

from textbank.calls.launch import launch_calls
from textbank.calls.outbox import claim
from textbank.compliance.quiet_hours import SendWindow
from textbank.db import session_scope
from textbank.models import Call, utcnow
from textbank.webhooks.fast_calls import FastCallStatus

ANA, LUIS = "+16175550101", "+16175550102"
VIEWS = ("twilio.call_answer", "twilio.call_menu")
MP3 = b"ID3" + bytes(64)


def _sid(phone: str) -> str:
    return "CA" + phone[-4:] * 8


@pytest.fixture
def rows(client, auth, sessions) -> dict[str, int]:
    """A placed call row per member (phone -> row id): Ana speaks English, Luis Spanish,
    whose script is a recording."""
    seed(sessions, [("Ana", ANA, "1199", "en"), ("Luis", LUIS, "1199", "es")])
    cid = client.post("/api/v1/campaigns", headers=auth, json=voice_campaign()).get_json()["id"]
    recorded = client.put(f"/api/v1/campaigns/{cid}/recordings/es/script", data=MP3,
                          headers={**auth, "Content-Type": "audio/mpeg"})  # fmt: skip
    assert recorded.status_code == 201
    launch_calls(sessions, cid, SendWindow(0, 1440), on_buckets=lambda *_: None)
    with session_scope(sessions) as session:
        return {r.phone: r.id for r in claim(session, cid, 0, SendWindow(0, 1440), 10, utcnow(),
                                                25)}  # fmt: skip


@pytest.fixture
def flask_only(app) -> Client:
    """A client for the app with the call fast path taken out: what the Flask routes answer."""
    fast = app.wsgi_app
    while not isinstance(fast, FastCallStatus):
        fast = fast.app
    return Client(fast.app)


@pytest.fixture
def reached_flask(app) -> list[str]:
    """The answer and menu requests the Flask views served."""
    seen: list[str] = []
    for name in VIEWS:
        view = app.view_functions[name]

        def noting(*args, view=view, name=name, **kwargs):
            seen.append(name)
            return view(*args, **kwargs)

        app.view_functions[name] = noting
    return seen


def _params(phone: str, **extra) -> dict[str, str]:
    return {"CallSid": _sid(phone), "AccountSid": "AC" + "0" * 32, "To": phone,
            "From": "+15005550006", "CallStatus": "in-progress", **extra}  # fmt: skip


def _both(client, flask_only, settings, path: str, params: dict):
    """The fast path's answer, then the Flask route's to the same request."""
    fast = signed_post(client, settings, path, params)
    flask = signed_post(flask_only, settings, path, params)
    return fast, flask


def _same(fast, flask) -> str:
    assert (fast.status_code, fast.headers["Content-Type"]) == (
        flask.status_code, flask.headers["Content-Type"])  # fmt: skip
    assert fast.get_data(as_text=True) == flask.get_data(as_text=True)
    assert fast.headers["Content-Length"] == flask.headers["Content-Length"]
    return fast.get_data(as_text=True)


def test_answers_and_keys_match_the_flask_routes_in_each_language(
    client, settings, rows, flask_only, reached_flask
):
    served = 0
    for phone, said in ((ANA, "Saturday's canvass"), (LUIS, "<Play>http")):
        row = rows[phone]
        for answered_by, attempt in (("machine_end_beep", 1), ("human", 3), ("human", 1)):
            path = f"/twilio/voice/calls/{row}?a={attempt}"
            body = _same(*_both(client, flask_only, settings, path,
                                _params(phone, AnsweredBy=answered_by)))  # fmt: skip
            served += 1
            if attempt == 3:  # not the row's attempt: hang up
                assert body.endswith("<Response><Hangup /></Response>")
            elif answered_by == "human":
                assert said in body and f"/calls/{row}/menu?a=1" in body
        for digits in ("7", "1", "9"):  # not a choice (the menu again), volunteer, stop
            path = f"/twilio/voice/calls/{row}/menu?a=1"
            body = _same(*_both(client, flask_only, settings, path,
                                _params(phone, Digits=digits)))  # fmt: skip
            served += 1
            assert ("<Gather" in body) == (digits == "7")
    assert len(reached_flask) == served  # the Flask-only requests alone


def test_a_forged_signature_is_refused_and_changes_nothing(
    client, settings, sessions, rows, reached_flask
):
    row = rows[ANA]
    for path, extra in ((f"/twilio/voice/calls/{row}?a=1", {"AnsweredBy": "human"}),
                        (f"/twilio/voice/calls/{row}/menu?a=1", {"Digits": "9"})):  # fmt: skip
        refused = signed_post(client, settings, path, _params(ANA, **extra), signature="forged")
        assert refused.status_code == 403
    with session_scope(sessions) as session:
        call = session.get_one(Call, row)
        assert (call.answered_at, call.digits, call.twilio_sid) == (None, None, None)


def test_anything_unusual_goes_to_the_flask_route(client, settings, rows, reached_flask):
    row = rows[ANA]
    path = f"/twilio/voice/calls/{row}?a=1"
    nul = signed_post(client, settings, path, _params(ANA, AnsweredBy="hu\x00man"))
    assert nul.status_code == 200 and b"<Gather" in nul.data  # the route strips the NUL
    no_sid = {k: v for k, v in _params(ANA).items() if k != "CallSid"}
    assert signed_post(client, settings, path, no_sid).status_code == 400
    other_query = signed_post(client, settings, f"{path}&b=2", _params(ANA, AnsweredBy="human"))
    assert other_query.status_code == 200
    too_long = signed_post(client, settings, f"/twilio/voice/calls/{row}/menu?a=1",
                           _params(ANA, Digits="1", CallSid="CA" + "1" * 40))  # fmt: skip
    assert too_long.status_code == 400
    assert reached_flask == ["twilio.call_answer"] * 3 + ["twilio.call_menu"]


def test_settings_are_read_per_request(app, client, settings, rows, reached_flask):
    """The base URL and the auth token as the app has them now, not as they were at start."""
    moved = dataclasses.replace(settings, public_base_url="https://calls.example.org",
                                twilio_auth_token="rotated-token")  # fmt: skip
    app.extensions["textbank.settings"] = moved
    row = rows[ANA]
    answer = signed_post(client, moved, f"/twilio/voice/calls/{row}?a=1",
                         _params(ANA, AnsweredBy="human"))  # fmt: skip
    assert answer.status_code == 200
    assert f"https://calls.example.org/twilio/voice/calls/{row}/menu?a=1" in answer.text
    old = signed_post(client, settings, f"/twilio/voice/calls/{row}/menu?a=1",
                      _params(ANA, Digits="1"))  # fmt: skip
    assert old.status_code == 403  # signed with the old token: refused by the route
    assert reached_flask == ["twilio.call_menu"]
