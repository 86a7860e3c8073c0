"""Call status callbacks: signed, idempotent on the SID, forward only, about one attempt."""

from __future__ import annotations

from blast_helpers import seed, signed_post
from voice_helpers import voice_campaign

from textbank.calls.launch import launch_calls
from textbank.calls.outbox import claim
from textbank.compliance.quiet_hours import SendWindow
from textbank.db import session_scope
from textbank.models import Call, utcnow

SID = "CA" + "a" * 32


def _claimed_row(client, auth, sessions) -> int:
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    cid = client.post("/api/v1/campaigns", headers=auth, json=voice_campaign()).get_json()["id"]
    launch_calls(sessions, cid, SendWindow(0, 1440), on_buckets=lambda *_: None)
    with session_scope(sessions) as session:
        (row,) = claim(session, cid, 0, SendWindow(0, 1440), 10, utcnow(), 25)
        return row.id


def _status(client, settings, row_id: int, status: str, attempt: int = 1, sid: str = SID,
            **extra):  # fmt: skip
    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "CallStatus": status,
              "To": "+16175550101", "From": "+15005550006", **extra}  # fmt: skip
    return signed_post(client, settings, f"/twilio/voice/calls/{row_id}/status?a={attempt}",
                       params)  # fmt: skip


def _row(sessions, row_id: int) -> Call:
    with session_scope(sessions) as session:
        row = session.get(Call, row_id)
        session.expunge(row)
        return row


def test_callbacks_only_move_a_call_forward_and_count_once(client, auth, settings, sessions):
    row_id = _claimed_row(client, auth, sessions)
    assert _status(client, settings, row_id, "ringing").status_code == 204
    assert _status(client, settings, row_id, "initiated").status_code == 204  # late: ignored
    row = _row(sessions, row_id)
    assert (row.status, row.twilio_sid, row.placements) == ("ringing", SID, 1)
    _status(client, settings, row_id, "in-progress", AnsweredBy="human")
    for _ in range(2):  # Twilio may deliver the same callback twice
        _status(client, settings, row_id, "completed", CallDuration="42", AnsweredBy="human")
    _status(client, settings, row_id, "ringing")
    row = _row(sessions, row_id)
    assert (row.status, row.seconds, row.answered_by, row.placements) == (
        "completed", 42, "human", 1)  # fmt: skip
    assert row.answered_at is not None and row.voicemail_at is None


def test_callbacks_about_another_attempt_or_call_are_ignored(client, auth, settings, sessions):
    row_id = _claimed_row(client, auth, sessions)
    _status(client, settings, row_id, "ringing")
    assert _status(client, settings, row_id, "completed", attempt=2).status_code == 204
    other = "CA" + "b" * 32
    assert _status(client, settings, row_id, "completed", sid=other).status_code == 204
    assert _row(sessions, row_id).status == "ringing"
    assert _status(client, settings, row_id, "exploded").status_code == 204
    assert _row(sessions, row_id).status == "ringing"


def test_callbacks_are_signed_and_name_their_attempt(client, auth, settings, sessions):
    row_id = _claimed_row(client, auth, sessions)
    done, answering = {"CallSid": SID, "CallStatus": "completed"}, {"CallSid": SID}
    path = f"/twilio/voice/calls/{row_id}"
    forged = signed_post(client, settings, f"{path}/status?a=1", done, signature="forged")
    assert forged.status_code == 403
    answer = signed_post(client, settings, f"{path}?a=1", answering, signature="forged")
    assert answer.status_code == 403
    no_attempt = signed_post(client, settings, f"/twilio/voice/calls/{row_id}/status",
                             {"CallSid": SID, "CallStatus": "completed"})  # fmt: skip
    assert no_attempt.status_code == 400
    assert _row(sessions, row_id).status == "placing"


def test_a_machine_gets_the_voicemail_and_a_stale_answer_hangs_up(client, auth, settings,
                                                                  sessions):  # fmt: skip
    row_id = _claimed_row(client, auth, sessions)
    params = {"CallSid": SID, "CallStatus": "in-progress", "AnsweredBy": "machine_end_beep"}
    stale = signed_post(client, settings, f"/twilio/voice/calls/{row_id}?a=3", params)
    assert stale.get_data(as_text=True).endswith("<Response><Hangup /></Response>")
    answer = signed_post(client, settings, f"/twilio/voice/calls/{row_id}?a=1", params)
    body = answer.get_data(as_text=True)
    assert "Saturday's canvass" in body and "<Gather" not in body
    row = _row(sessions, row_id)
    assert row.voicemail_at is not None and row.answered_by == "machine_end_beep"
    _status(client, settings, row_id, "completed", CallDuration="20", AnsweredBy="machine_end_beep")
    row = _row(sessions, row_id)
    assert row.status == "completed" and row.send_after is None  # a voicemail is never retried


def test_a_whole_answered_call_costs_few_statements(app, client, auth, settings, sessions):
    """The six requests Twilio makes for a call a person answers and presses 1 on
    (initiated, ringing, answered, the answer URL, the menu's key, completed): every one
    recorded, in no more than 18 statements in all (the last two complete the campaign: it
    has only this call), not counting BEGIN and COMMIT. Cheap callbacks are what let calls
    end as fast as they start."""
    from sqlalchemy import event

    from textbank.models import Outcome

    row_id = _claimed_row(client, auth, sessions)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    engine = app.extensions["textbank.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        for status in ("initiated", "ringing"):
            assert _status(client, settings, row_id, status).status_code == 204
        _status(client, settings, row_id, "in-progress", AnsweredBy="human")
        params = {"CallSid": SID, "AccountSid": "AC" + "0" * 32, "To": "+16175550101",
                  "From": "+15005550006", "AnsweredBy": "human"}  # fmt: skip
        path = f"/twilio/voice/calls/{row_id}"
        menu = signed_post(client, settings, f"{path}?a=1", params)
        assert b"<Gather" in menu.data
        pressed = signed_post(client, settings, f"{path}/menu?a=1", {**params, "Digits": "1"})
        assert pressed.status_code == 200
        _status(client, settings, row_id, "completed", CallDuration="30", AnsweredBy="human")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    row = _row(sessions, row_id)
    assert (row.status, row.placements, row.digits, row.seconds) == ("completed", 1, "1", 30)
    assert (row.answered_by, row.error_code) == ("human", None) and row.answered_at is not None
    with session_scope(sessions) as session:
        outcomes = session.query(Outcome).filter_by(member_id=row.member_id).all()
        assert [(o.name, o.source) for o in outcomes] == [("volunteer", "voice")]
    assert len(statements) <= 18, "\n".join(statements)


def test_a_plain_status_callback_is_served_before_flask_and_an_odd_one_by_flask(
    app, client, auth, settings, sessions
):
    """The fast path (textbank.webhooks.fast_calls) takes the plain, signed callback; a
    forged one, one with a NUL or without CallStatus goes to the Flask route as it came."""
    row_id = _claimed_row(client, auth, sessions)
    seen: list[str] = []
    flask_view = app.view_functions["twilio.call_status"]

    def noting(*args, **kwargs):
        seen.append(kwargs and str(kwargs["call_id"]))
        return flask_view(*args, **kwargs)

    app.view_functions["twilio.call_status"] = noting
    assert _status(client, settings, row_id, "ringing").status_code == 204
    assert seen == [] and _row(sessions, row_id).status == "ringing"
    path = f"/twilio/voice/calls/{row_id}/status?a=1"
    done = {"CallSid": SID, "CallStatus": "completed"}
    assert signed_post(client, settings, path, done, signature="forged").status_code == 403
    nul = _status(client, settings, row_id, "in-progress", AnsweredBy="hu\x00man")
    assert nul.status_code == 204
    assert signed_post(client, settings, path, {"CallSid": SID}).status_code == 400
    assert seen == [str(row_id)] * 3  # each odd one reached the Flask route
    row = _row(sessions, row_id)
    assert (row.status, row.answered_by) == ("in-progress", "human")
