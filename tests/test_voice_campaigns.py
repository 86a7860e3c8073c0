"""Voice campaigns end to end: launched through the API, played by the sandbox carrier."""

from __future__ import annotations

import time
from datetime import timedelta

from blast_helpers import run_queue, seed
from sqlalchemy import select
from voice_helpers import calls_by_phone, voice_campaign

from textbank.db import session_scope
from textbank.models import Call, CallOptOut, Member, Outcome


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _plan(live, phone: str, answer: str, digits: str | None = None) -> None:
    import requests

    body = {"phone": phone, "answer": answer}
    if digits is not None:
        body["digits"] = digits
    assert requests.post(f"{live.sandbox.url}/sandbox/calls/plan", json=body, timeout=5).ok


def _rows(live) -> dict[str, Call]:
    with session_scope(live.sessions) as session:
        rows = session.scalars(select(Call)).all()
        session.expunge_all()
    return {r.phone: r for r in rows}


def test_voice_campaign_calls_each_member_once(live, auth):
    seed(live.sessions, [
        ("Ana", "617-555-0101", "1199", "en"),   # presses 1
        ("Bo", "617-555-0102", "1199", "es"),    # presses 9
        ("Cy", "617-555-0103", "1199", "en"),    # a machine answers
        ("Di", "617-555-0104", "1199", "en"),    # no answer
        ("Ed", "617-555-0105", "1199", "en"),    # busy
    ])  # fmt: skip
    _plan(live, "+16175550101", "human", "1")
    _plan(live, "+16175550102", "human", "9")
    _plan(live, "+16175550103", "machine")
    _plan(live, "+16175550104", "no-answer")
    _plan(live, "+16175550105", "busy")
    created = live.client.post("/api/v1/campaigns", headers=auth, json=voice_campaign())
    assert created.status_code == 201, created.get_json()
    cid = created.get_json()["id"]
    launched = live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth)
    assert launched.status_code == 202 and launched.get_json()["status"] == "launching"
    run_queue(live.settings)  # the launch job snapshots five calls, then they are placed
    assert live.client.get(f"/api/v1/campaigns/{cid}", headers=auth).status_code == 200

    def settled():
        rows = _rows(live)
        return all(r.status in ("completed", "deferred", "busy", "no-answer") for r in
                   rows.values()) and rows  # fmt: skip

    rows = _wait(settled)
    calls = calls_by_phone(live.sandbox)
    assert sorted(calls) == sorted(rows) and all(len(c) == 1 for c in calls.values())
    assert not live.sandbox.state.all_messages()  # a voice campaign texts nobody
    ana, bo, cy, di, ed = (rows[f"+1617555010{i}"] for i in range(1, 6))
    assert ana.digits == "1" and ana.answered_by == "human"
    assert bo.digits == "9"
    assert cy.voicemail_at is not None and cy.status == "completed"
    assert di.status == "deferred" and ed.status == "deferred"  # retried after the spacing
    assert di.send_after - di.ended_at >= timedelta(minutes=29)
    ana_twiml = calls["+16175550101"][0].twiml
    assert "Polly.Joanna" in ana_twiml[0] and "press 9" in ana_twiml[0]
    assert "Polly.Lupe" in calls["+16175550102"][0].twiml[0]  # in Spanish
    assert "No recibirá más llamadas" in calls["+16175550102"][0].twiml[-1]
    assert "Saturday's canvass" in calls["+16175550103"][0].twiml[0]  # the voicemail
    with session_scope(live.sessions) as session:
        outcome = session.scalar(select(Outcome))
        assert (outcome.name, outcome.source) == ("volunteer", "voice")
        assert session.scalar(select(CallOptOut.phone)) == "+16175550102"
        assert session.scalar(select(Member.opted_out_at).where(Member.first_name == "Bo"))

    stats = live.client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).get_json()
    assert stats["calls"] == {
        "placed": 5, "answered": 2, "voicemail": 1, "pressed": {"volunteer": 1},
        "opted_out": 1, "no_answer": 0, "busy": 0, "failed": 0,
        "minutes": stats["calls"]["minutes"],
    }  # fmt: skip
    assert stats["volunteers"] == 1 and stats["deferred"] == 2 and stats["status"] == "sending"
