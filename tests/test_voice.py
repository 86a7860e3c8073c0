"""POST /twilio/voice: a member calls back, presses 1 to volunteer or 9 to stop."""

from blast_helpers import seed, signed_post
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Member, Outcome

CALL = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": "+16175550101",
        "To": "+15005550006", "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip


def test_caller_hears_the_menu_and_volunteers(client, settings, sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    menu = signed_post(client, settings, "/twilio/voice", CALL)
    assert menu.status_code == 200 and menu.mimetype == "application/xml"
    assert "press 1" in menu.get_data(as_text=True) and "<Gather" in menu.get_data(as_text=True)
    chose = signed_post(client, settings, "/twilio/voice", {**CALL, "Digits": "1"})
    assert "An organizer will be in touch" in chose.get_data(as_text=True)
    with session_scope(sessions) as session:
        outcome = session.scalar(select(Outcome))
        assert (outcome.name, outcome.source) == ("volunteer", "voice")


def test_pressing_9_opts_out_and_forged_calls_are_refused(client, settings, sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    assert signed_post(client, settings, "/twilio/voice", CALL, signature="bad").status_code == 403
    signed_post(client, settings, "/twilio/voice", {**CALL, "Digits": "9"})
    with session_scope(sessions) as session:
        member = session.scalar(select(Member))
        assert member.opted_out and member.opt_out_source == "voice"
    status = signed_post(
        client, settings, "/twilio/voice/status", {**CALL, "CallStatus": "completed"}
    )
    assert status.status_code == 204


def test_a_withheld_caller_pressing_9_is_told_how_to_stop(client, settings, sessions):
    for withheld in ("+266696687", "Anonymous", ""):
        answer = signed_post(client, settings, "/twilio/voice",
                             {**CALL, "From": withheld, "Digits": "9"})  # fmt: skip
        assert answer.status_code == 200
        assert "not one of the choices" not in answer.text
        assert "text STOP" in answer.text
