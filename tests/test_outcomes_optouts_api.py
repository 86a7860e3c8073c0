"""Outcomes from phone banks and events; the opt-out ledger out, suppression lists in."""

import csv
import io

from blast_helpers import inbound, run_queue, seed, signed_post, texts_by_phone
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Member


def _member_id(sessions, phone):
    with session_scope(sessions) as session:
        return session.scalar(select(Member.id).where(Member.phone == phone))


def test_record_outcomes_through_the_api(client, sessions, auth):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    member_id = _member_id(sessions, "+16175550101")
    url = f"/api/v1/members/{member_id}/outcomes"
    first = client.post(url, json={"name": "attended_rally", "source": "voice"}, headers=auth)
    assert first.status_code == 201
    assert first.get_json()["created"] is True
    assert client.post(url, json={"name": "Attended Rally!"}, headers=auth).status_code == 400
    assert client.post(url, json={"name": "x", "source": "fax"}, headers=auth).status_code == 400
    assert client.post(url, json={"name": "x", "campaign_id": 99}, headers=auth).status_code == 400
    missing = client.post("/api/v1/members/999/outcomes", json={"name": "x"}, headers=auth)
    assert missing.status_code == 404
    listed = client.get(url, headers=auth).get_json()["outcomes"]
    assert [(o["name"], o["source"], o["volunteer"]) for o in listed] == [
        ("attended_rally", "voice", False)
    ]


def test_outcome_once_per_campaign(client, sessions, auth):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    campaign = client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={"name": "c", "kind": "volunteer", "message": "Volunteer?", "audience": {}},
    ).get_json()
    member_id = _member_id(sessions, "+16175550101")
    url = f"/api/v1/members/{member_id}/outcomes"
    body = {"name": "volunteer", "campaign_id": campaign["id"], "source": "volunteer_tag"}
    assert client.post(url, json=body, headers=auth).status_code == 201
    again = client.post(url, json=body, headers=auth)
    assert again.status_code == 200 and again.get_json()["created"] is False
    stats = client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=auth).get_json()
    assert stats["volunteers"] == 1


def test_ledger_export_json_and_csv(client, settings, sessions, auth):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    signed_post(client, settings, "/twilio/sms", inbound("+16175550101", "STOP"))
    signed_post(client, settings, "/twilio/sms", inbound("+16175550101", "START"))
    events = client.get("/api/v1/opt-outs", headers=auth).get_json()["events"]
    assert [(e["kind"], e["source"], e["text"]) for e in events] == [
        ("opt_out", "sms_keyword", "STOP"),
        ("opt_in", "sms_keyword", "START"),
    ]
    response = client.get("/api/v1/opt-outs?format=csv", headers=auth)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["kind"] for r in rows] == ["opt_out", "opt_in"]
    assert client.get("/api/v1/opt-outs?since=yesterday", headers=auth).status_code == 400


def test_suppression_list_is_honored_at_launch_and_for_later_imports(live, auth):
    seed(
        live.sessions,
        [("Ana", "617-555-0101", "1199", "en"), ("Luis", "617-555-0102", "1199", "en")],
    )
    partner = "Mobile Number\n(617) 555-0102\n617-555-0199\nnot a phone\n"
    result = live.client.post("/api/v1/opt-outs", data=partner, content_type="text/csv",
                              headers=auth).get_json()  # fmt: skip
    assert result == {
        "added": 2,
        "already_opted_out": 0,
        "rejected": [{"row": 4, "reason": "unreadable phone 'not a phone'"}],
    }
    again = live.client.post("/api/v1/opt-outs", json={"phones": ["+16175550102"]}, headers=auth)
    assert again.get_json()["already_opted_out"] == 1
    campaign = live.client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={"name": "c", "kind": "gotv", "message": "Vote!", "audience": {}},
    ).get_json()
    launch = live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    assert launch.status_code == 202
    run_queue(live.settings)
    stats = live.client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=auth).get_json()
    assert stats["skipped"]["opted_out"] == 1
    assert list(texts_by_phone(live.sandbox)) == ["+16175550101"]
    seed(live.sessions, [("Late", "617-555-0199", "1199", "en")])  # on the partner's list
    with session_scope(live.sessions) as session:
        late = session.scalar(select(Member).where(Member.phone == "+16175550199"))
        assert late.opted_out


def test_empty_suppression_list_is_refused(client, auth):
    response = client.post("/api/v1/opt-outs", data=b"", content_type="text/csv", headers=auth)
    assert response.status_code == 400
