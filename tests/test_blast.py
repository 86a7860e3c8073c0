"""Blasts end to end: API launch, RQ jobs, the real twilio SDK against the sandbox carrier."""

import time
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from blast_helpers import run_queue, seed, texts_by_phone
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Member, OutboundMessage
from textbank.twilio.codes import MessageStatus

MEMBERS = [
    ("Ana", "617-555-0101", "1199", "es", "gotv"),
    ("Luis", "617-555-0102", "1199", "en", "gotv"),
    ("Rosa", "617-555-0103", "1199", "pt", ""),
    ("Wei", "617-555-0104", "26", "en", "gotv"),
    ("Mei", "617-555-0105", "1199", "en", "gotv"),
]
CAMPAIGN = {
    "name": "GOTV Nov 3",
    "kind": "gotv",
    "message": "Hi {first_name}! {local} votes Tuesday. Reply YES to pledge.",
    "translations": {"es": "¡Hola {first_name}! {local} vota el martes. Responde SÍ."},
    "audience": {"locals": ["1199"]},
    "keywords": {"YES": "pledged_to_vote", "SI": "pledged_to_vote"},
    "replies": {"pledged_to_vote": "Thank you!"},
}


def _create(live, auth, **changes):
    response = live.client.post("/api/v1/campaigns", json={**CAMPAIGN, **changes}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_blast_texts_each_member_once_in_their_language(live, auth):
    seed(live.sessions, MEMBERS)
    with session_scope(live.sessions) as session:
        member = session.scalar(select(Member).where(Member.phone == "+16175550105"))
        member.opted_out_at = datetime.now(UTC)
    campaign = _create(live, auth)
    assert campaign["preview"]["default"]["encoding"] == "GSM-7"
    assert campaign["preview"]["es"]["encoding"] == "UCS-2"  # ¡ is GSM, but í is not

    response = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    assert response.status_code == 202  # at once: the snapshot is the launch job's
    assert response.get_json() == {
        "queued": 0,
        "skipped": {"opted_out": 0, "invalid": 0, "duplicate": 0},
        "status": "launching",
        "snapshot": {"done": 0, "total": None, "finished": False},
    }
    assert texts_by_phone(live.sandbox) == {}
    run_queue(live.settings)
    again = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    assert again.status_code == 202
    assert {k: again.get_json()[k] for k in ("queued", "skipped", "snapshot")} == {
        "queued": 3,
        "skipped": {"opted_out": 1, "invalid": 0, "duplicate": 0},
        "snapshot": {"done": 4, "total": 4, "finished": True},
    }

    texts = texts_by_phone(live.sandbox)
    assert texts == {
        "+16175550101": ["¡Hola Ana! Local 1199 vota el martes. Responde SÍ."],
        "+16175550102": ["Hi Luis! Local 1199 votes Tuesday. Reply YES to pledge."],
        "+16175550103": ["Hi Rosa! Local 1199 votes Tuesday. Reply YES to pledge."],
    }
    stats_url = f"/api/v1/campaigns/{campaign['id']}/stats"
    assert _wait_for(lambda: live.client.get(stats_url, headers=auth).get_json()["delivered"] == 3)
    stats = live.client.get(stats_url, headers=auth).get_json()
    assert {
        k: stats[k] for k in ("audience", "queued", "sent", "delivered", "failed", "deferred")
    } == {"audience": 4, "queued": 0, "sent": 3, "delivered": 3, "failed": 0, "deferred": 0}
    # Opted out before launch: skipped, not an opt-out in answer to this campaign.
    assert (stats["skipped"]["opted_out"], stats["opted_out"]) == (1, 0)
    assert stats["snapshot"] == {"done": 4, "total": 4, "finished": True}
    assert (
        live.client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).get_json()["status"]
        == "completed"
    )


def test_launching_twice_texts_nobody_twice(live, auth):
    seed(live.sessions, MEMBERS)
    campaign = _create(live, auth)
    first = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    second = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(live.settings)
    again = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(live.settings)
    assert first.status_code == second.status_code == again.status_code == 202
    assert again.get_json()["queued"] == 4
    assert all(len(bodies) == 1 for bodies in texts_by_phone(live.sandbox).values())
    assert len(texts_by_phone(live.sandbox)) == 4


def test_members_outside_their_window_are_deferred_not_dropped(live, auth):
    # A three-hour window around Boston's current hour excludes Honolulu (five hours behind).
    boston_hour = datetime.now(ZoneInfo("America/New_York")).hour
    start, end = max(0, boston_hour - 1), min(24, boston_hour + 2)
    from dataclasses import replace

    from textbank.compliance.quiet_hours import SendWindow

    window = SendWindow(start * 60, end * 60)
    live.app.extensions["textbank.settings"] = replace(live.settings, send_window=window)
    settings = replace(live.settings, send_window=window)
    seed(
        live.sessions,
        # Two deferred at once: the deferral is one statement run for many rows.
        [("Kai", "808-555-0101", "1199", "en"), ("Lani", "808-555-0102", "1199", "en"),
         ("Ana", "617-555-0101", "1199", "en")],
    )  # fmt: skip
    campaign = _create(live, auth, translations={})
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(settings)

    assert list(texts_by_phone(live.sandbox)) == ["+16175550101"]
    with session_scope(live.sessions) as session:
        kai = session.scalar(select(OutboundMessage).where(OutboundMessage.phone == "+18085550101"))
        assert kai.status == MessageStatus.DEFERRED
        opens = kai.send_after.astimezone(ZoneInfo("Pacific/Honolulu"))
        assert (opens.hour, opens.minute) == (start, 0)
        assert kai.send_after > datetime.now(UTC)
        lani = session.scalar(
            select(OutboundMessage).where(OutboundMessage.phone == "+18085550102")
        )
        assert lani.status == MessageStatus.DEFERRED
    stats = live.client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=auth).get_json()
    assert stats["deferred"] == 2
    assert stats["status"] == "sending"


def test_opt_out_mid_blast_stops_the_text(live, auth):
    seed(live.sessions, MEMBERS)
    campaign = _create(live, auth)
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    with session_scope(live.sessions) as session:  # STOP arrives after launch, before sending
        member = session.scalar(select(Member).where(Member.phone == "+16175550102"))
        member.opted_out_at = datetime.now(UTC)
    run_queue(live.settings)
    assert "+16175550102" not in texts_by_phone(live.sandbox)
    assert len(texts_by_phone(live.sandbox)) == 3
    stats = live.client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=auth).get_json()
    # Never texted by it, so not its opt-out; counted among the skipped.
    assert (stats["skipped"]["opted_out"], stats["opted_out"]) == (1, 0)


def test_carrier_unsubscribed_number_fails_and_opts_out(live, auth):
    seed(live.sessions, MEMBERS)
    live.sandbox.state.unsubscribe("+16175550103")
    campaign = _create(live, auth)
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(live.settings)
    with session_scope(live.sessions) as session:
        row = session.scalar(select(OutboundMessage).where(OutboundMessage.phone == "+16175550103"))
        assert (row.status, row.error_code) == (MessageStatus.FAILED, 21610)
        member = session.get(Member, row.member_id)
        assert member.opted_out and member.opt_out_source == "carrier"


def test_hung_requests_are_given_up_in_time_and_never_resent(live, auth):
    """Twilio took the text but the answer never came: the request times out, the sender
    finds the message by listing the member's texts, and sends no second one."""
    seed(live.sessions, MEMBERS)
    live.sandbox.configure(timeout_rate=0.5, timeout_seconds=30, random_seed=3)
    campaign = _create(live, auth)
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    started = time.monotonic()
    run_queue(replace(live.settings, twilio_timeout=1.0))
    assert time.monotonic() - started < 15  # not the 30 s a hung answer takes
    assert live.sandbox.state.requests()["timeouts"] >= 1
    texts = texts_by_phone(live.sandbox)
    assert sorted(texts) == ["+16175550101", "+16175550102", "+16175550103", "+16175550105"]
    assert all(len(bodies) == 1 for bodies in texts.values())
    with session_scope(live.sessions) as session:
        rows = session.scalars(select(OutboundMessage)).all()
        assert {row.status for row in rows} <= {MessageStatus.SENT, MessageStatus.DELIVERED}
        assert len({row.twilio_sid for row in rows}) == len(rows) == 4


def test_pause_then_resume(live, auth):
    seed(live.sessions, MEMBERS)
    campaign = _create(live, auth)
    cid = campaign["id"]
    live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth)
    assert live.client.post(f"/api/v1/campaigns/{cid}/pause", headers=auth).status_code == 200
    run_queue(live.settings)
    assert texts_by_phone(live.sandbox) == {}
    resumed = live.client.post(f"/api/v1/campaigns/{cid}/resume", headers=auth)
    assert resumed.get_json()["status"] == "sending"
    run_queue(live.settings)
    assert len(texts_by_phone(live.sandbox)) == 4
    again = live.client.post(f"/api/v1/campaigns/{cid}/resume", headers=auth)
    assert again.status_code == 409


def test_launch_command_follows_the_blast_until_done(live, auth):
    import threading

    from textbank.enqueue import QueueName, queue

    seed(live.sessions, MEMBERS)
    campaign = _create(live, auth)
    runner = live.app.test_cli_runner()
    result = {}
    cli = threading.Thread(
        target=lambda: result.update(
            out=runner.invoke(args=["campaigns", "launch", str(campaign["id"])])
        )
    )
    cli.start()
    launches = queue(QueueName.LAUNCH, live.app.extensions["textbank.redis"].get())
    assert _wait_for(lambda: launches.count > 0), "the command queued no launch job"
    assert cli.is_alive()  # following the launch: no worker has snapshotted it yet
    run_queue(live.settings)
    cli.join(timeout=30)
    assert not cli.is_alive(), "the launch command still followed the blast 30 s after it ended"
    out = result["out"]
    assert out.exit_code == 0, out.output
    assert f"campaign {campaign['id']}: 4 queued" in out.output
    # Not a terminal here, so click shows each bar's label without redrawing it.
    assert out.output.startswith("snapshot\n")
    assert "\nsending\nsent 4, delivered " in out.output
    assert len(texts_by_phone(live.sandbox)) == 4


def test_launch_command_no_wait_returns_with_the_blast_queued(live, auth):
    seed(live.sessions, MEMBERS)
    campaign = _create(live, auth)
    out = live.app.test_cli_runner().invoke(
        args=["campaigns", "launch", str(campaign["id"]), "--no-wait"]
    )
    assert out.exit_code == 0, out.output
    assert out.output.strip() == (
        f"campaign {campaign['id']}: launch queued; a worker snapshots the audience "
        "(0 of its members so far) and sends"
    )
    assert texts_by_phone(live.sandbox) == {}
    run_queue(live.settings)
    done = live.app.test_cli_runner().invoke(
        args=["campaigns", "launch", str(campaign["id"]), "--no-wait"]
    )
    assert done.output.strip() == (
        f"already launched: campaign {campaign['id']}: 4 queued; "
        "skipped opted_out 0, invalid 0, duplicate 0"
    )
    assert len(texts_by_phone(live.sandbox)) == 4
    missing = live.app.test_cli_runner().invoke(args=["campaigns", "launch", "999999"])
    assert missing.exit_code != 0 and "no campaign 999999" in missing.output
