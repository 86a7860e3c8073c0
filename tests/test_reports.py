"""Engagement counts per local and campaign: API, CLI, CSV, STATS texts and digests."""

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from blast_helpers import act_on_replies, inbound, run_queue, seed, signed_post, texts_by_phone
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Campaign, Local, Member
from textbank.reports.engagement import ReportFilter, _recount, engagement

ANA, LUIS, ROSA, KIM, LEE = ("+16175550101", "+16175550102", "+16175550103", "+16175550104",
                             "+16175550105")  # fmt: skip


@pytest.fixture
def blasted(live, auth):
    """Five members in two locals, a blast, and their replies, as a real day would go."""
    seed(live.sessions, [("Ana", ANA, "1199", "en"), ("Luis", LUIS, "1199", "en"),
                         ("Rosa", ROSA, "1199", "en"), ("Kim", KIM, "26", "en"),
                         ("Lee", LEE, "26", "en")])  # fmt: skip
    campaign = live.client.post("/api/v1/campaigns", headers=auth, json={
        "name": "GOTV", "kind": "gotv", "message": "Vote {first_name}! Reply YES.",
        "audience": {}, "keywords": {"YES": "pledged_to_vote", "VOLUNTEER": "volunteer"},
    }).get_json()  # fmt: skip
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(live.settings)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = live.client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=auth)
        if stats.get_json()["delivered"] == 5:
            break
        time.sleep(0.05)
    for phone, body in [(ANA, "yes"), (LUIS, "VOLUNTEER"), (LUIS, "yes!"), (ROSA, "when?"),
                        (KIM, "STOP")]:  # fmt: skip
        signed_post(live.client, live.settings, "/twilio/sms", inbound(phone, body))
    act_on_replies(live.settings)
    return campaign["id"]


def _by(rows, key):
    return {r[key]: r for r in rows}


def test_per_local_counts_match_a_recount(live, auth, blasted):
    with session_scope(live.sessions) as session:
        fast = engagement(session, "local")
        recount = _recount(session, "local", ReportFilter())
    rows = _by(fast["rows"], "local")
    assert {k: rows["1199"][k] for k in ("members", "texted", "delivered", "replied", "acted",
                                         "volunteers", "opted_out")} == {
        "members": 3, "texted": 3, "delivered": 3, "replied": 3, "acted": 2, "volunteers": 1,
        "opted_out": 0}  # fmt: skip
    assert (rows["26"]["replied"], rows["26"]["opted_out"]) == (0, 1)
    assert rows["1199"]["conversation_rate"] == 1.0 and rows["1199"]["activist_rate"] == 0.3333
    with session_scope(live.sessions) as session:
        ids = dict(session.execute(select(Local.number, Local.id)).all())
    for row in fast["rows"]:
        for measure in ("members", "texted", "delivered", "failed", "replied", "acted",
                        "volunteers", "opted_out"):  # fmt: skip
            assert row[measure] == recount[ids[row["local"]]].get(measure, 0), (row, measure)


def test_report_api_json_csv_and_filters(live, auth, blasted):
    body = live.client.get("/api/v1/reports/engagement?by=campaign", headers=auth).get_json()
    (row,) = body["rows"]
    assert (row["campaign"], row["members"], row["texted"], row["replied"], row["acted"],
            row["volunteers"], row["opted_out"]) == ("GOTV", 5, 5, 3, 2, 1, 1)  # fmt: skip
    assert row["action_rate"] == 0.4 and row["goals"]["action"] == 0.5
    one_local = live.client.get("/api/v1/reports/engagement?by=local&local=26",
                                headers=auth).get_json()  # fmt: skip
    assert [r["local"] for r in one_local["rows"]] == ["26"]
    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    later = live.client.get(f"/api/v1/reports/engagement?by=local&from={future}",
                            headers=auth).get_json()  # fmt: skip
    assert sum(r["texted"] for r in later["rows"]) == 0
    bad = live.client.get("/api/v1/reports/engagement?by=local&from=soon", headers=auth)
    assert bad.status_code == 400 and "from" in bad.get_json()["error"]
    assert live.client.get("/api/v1/reports/engagement?by=zip", headers=auth).status_code == 400
    response = live.client.get("/api/v1/reports/engagement?by=local&format=csv", headers=auth)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["local"] for r in rows] == ["1199", "26", "TOTAL"]
    assert rows[-1]["members"] == "5" and rows[0]["replied"] == "3"


def test_report_command(live, blasted):
    runner = live.app.test_cli_runner()
    table = runner.invoke(args=["report", "--by", "local"])
    assert table.exit_code == 0, table.output
    assert "conversation_rate" in table.output and "100.0%" in table.output
    as_json = json.loads(
        runner.invoke(args=["report", "--by", "campaign", "--format", "json"]).output
    )
    assert as_json["rows"][0]["volunteers"] == 1
    as_csv = runner.invoke(args=["report", "--format", "csv"]).output.splitlines()
    assert as_csv[0].startswith("local,members,texted")
    bad = runner.invoke(args=["report", "--campaign", "GOTV"])
    assert bad.exit_code == 2 and "campaign id" in bad.output


def _make_leader(sessions, phone):
    with session_scope(sessions) as session:
        session.scalar(select(Member).where(Member.phone == phone)).is_leader = True


def test_leader_texts_stats_and_gets_counts(live, auth, blasted):
    _make_leader(live.sessions, ROSA)
    answer = signed_post(live.client, live.settings, "/twilio/sms", inbound(ROSA, "stats"))
    text = answer.get_data(as_text=True)
    assert "Local 1199: GOTV: texted 3, talked 100%, acted 67%, volunteers 1" in text
    # A member who is not a leader gets no counts: it is a question for a human.
    other = signed_post(live.client, live.settings, "/twilio/sms", inbound(ANA, "STATS"))
    assert "<Message>" not in other.get_data(as_text=True)


def test_weekly_digest_texts_every_local_leader_through_the_pipeline(live, auth, blasted):
    from textbank.enqueue import digest_job_id
    from workers import context
    from workers.jobs import send_digest

    _make_leader(live.sessions, ROSA)
    _make_leader(live.sessions, LEE)
    created = live.client.post("/api/v1/digests", headers=auth, json={
        "frequency": "weekly", "weekday": "monday", "hour": 9})  # fmt: skip
    assert created.status_code == 201
    schedule = created.get_json()
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.astimezone().weekday() in range(7)
    context.setup(live.settings)
    from rq.job import Job

    job = Job.fetch(digest_job_id(schedule["id"], next_run), connection=context.get().redis)
    assert job.get_status() == "scheduled"

    before = texts_by_phone(live.sandbox)
    result = send_digest(schedule["id"], next_run.isoformat())
    assert result["queued"] == 2
    assert send_digest(schedule["id"], next_run.isoformat())["skipped"]  # safe to run twice
    run_queue(live.settings)
    after = texts_by_phone(live.sandbox)
    assert after[ROSA][len(before.get(ROSA, [])) :] == [
        "Local 1199: GOTV: texted 3, talked 100%, acted 67%, volunteers 1"
    ]
    assert after[LEE][-1].startswith("Local 26: GOTV: texted 2")
    assert len(after[ANA]) == len(before[ANA])  # not a leader
    with session_scope(live.sessions) as session:
        kinds = session.scalars(select(Campaign.kind).order_by(Campaign.id)).all()
    assert kinds == ["gotv", "digest"]
    listed = live.client.get("/api/v1/digests", headers=auth).get_json()["digests"]
    assert listed[0]["last_run_at"] is not None
    assert live.client.delete(f"/api/v1/digests/{schedule['id']}", headers=auth).status_code == 200
    bad = live.client.post("/api/v1/digests", headers=auth, json={"frequency": "hourly"})
    assert bad.status_code == 400
