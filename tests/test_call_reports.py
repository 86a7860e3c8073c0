"""Call measures in the engagement report, the dashboard, and recordings for <Play>."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from blast_helpers import run_queue, seed
from sqlalchemy import select
from test_voice_campaigns import _plan, _rows, _wait
from voice_helpers import voice_campaign

from textbank.db import session_scope
from textbank.models import Call, Local, Member

MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64


def _run_campaign(live, auth) -> int:
    seed(live.sessions, [
        ("Ana", "617-555-0101", "1199", "en"),
        ("Bo", "617-555-0102", "1199", "es"),
        ("Cy", "617-555-0103", "26", "en"),
    ])  # fmt: skip
    _plan(live, "+16175550101", "human", "1")
    _plan(live, "+16175550102", "human", "9")
    _plan(live, "+16175550103", "machine")
    cid = live.client.post("/api/v1/campaigns", headers=auth,
                           json=voice_campaign(audience={})).get_json()["id"]  # fmt: skip
    assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    run_queue(live.settings)
    _wait(lambda: {r.status for r in _rows(live).values()} == {"completed"})
    return cid


def test_the_engagement_report_counts_calls(live, auth):
    cid = _run_campaign(live, auth)
    by_campaign = live.client.get("/api/v1/reports/engagement?by=campaign",
                                  headers=auth).get_json()  # fmt: skip
    (row,) = by_campaign["rows"]
    assert row["campaign_id"] == cid
    # Called counts as texted, reached (a person or a voicemail) as delivered; a key is an
    # action (a volunteer here), never a conversation.
    assert (row["members"], row["texted"], row["delivered"], row["replied"]) == (3, 3, 3, 0)
    assert (row["volunteers"], row["opted_out"]) == (1, 1)
    assert (row["calls_placed"], row["calls_answered"], row["voicemails"],
            row["calls_opted_out"]) == (3, 2, 1, 1)  # fmt: skip
    assert row["calls_pressed"] == {"volunteer": 1}
    by_local = live.client.get("/api/v1/reports/engagement?by=local", headers=auth).get_json()
    rows = {r["local"]: r for r in by_local["rows"]}
    assert (rows["1199"]["texted"], rows["1199"]["calls_placed"], rows["26"]["voicemails"]) == (
        2, 2, 1)  # fmt: skip
    assert by_local["total"]["calls_placed"] == 3
    filtered = live.client.get("/api/v1/reports/engagement?by=local&local=26",
                               headers=auth).get_json()  # fmt: skip
    assert [(r["local"], r["texted"], r["calls_placed"]) for r in filtered["rows"]] == [
        ("26", 1, 1)
    ]
    exported = live.client.get("/api/v1/reports/engagement?by=campaign&format=csv", headers=auth)
    (line, total) = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert (
        line["calls_placed"] == "3" and line["voicemails"] == "1" and total["calls_placed"] == "3"
    )
    table = live.app.test_cli_runner().invoke(args=["report", "--by", "campaign"])
    assert "calls_placed" in table.output


def test_a_date_range_counts_the_calls_made_in_it(live, auth):
    """Per local and per campaign, a range counts the calls placed (texted) and answered
    (delivered) in it, as a hand recount of the calls finds them."""
    cid = _run_campaign(live, auth)
    days_ago = datetime.now(UTC) - timedelta(days=3)
    with session_scope(live.sessions) as session:  # Cy (local 26) was called three days ago
        call = session.scalars(select(Call).where(Call.phone == "+16175550103")).one()
        call.placed_at = call.answered_at = call.voicemail_at = call.ended_at = days_ago
        locals_ = dict(session.execute(select(Member.id, Local.number).join(Local)).all())
        calls = session.scalars(select(Call)).all()
        session.expunge_all()

    def recount(since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for number in ("1199", "26"):
            mine = [c for c in calls if locals_[c.member_id] == number]
            texted = {c.member_id for c in mine if c.placed_at and since <= c.placed_at < until}
            reached = {c.member_id for c in mine if c.answered_at
                       and since <= c.answered_at < until}  # fmt: skip
            out[number] = (len(texted), len(reached))
        return out

    def report(by: str, since: datetime, until: datetime) -> dict:
        query = f"by={by}&from={since.isoformat()}&to={until.isoformat()}".replace("+", "%2B")
        response = live.client.get(f"/api/v1/reports/engagement?{query}", headers=auth)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for since, until, expected in (
        (today, today + timedelta(days=1), {"1199": (2, 2), "26": (0, 0)}),
        (today - timedelta(days=4), today - timedelta(days=2), {"1199": (0, 0), "26": (1, 1)}),
    ):
        assert recount(since, until) == expected
        rows = {
            r["local"]: (r["texted"], r["delivered"]) for r in report("local", since, until)["rows"]
        }
        assert {n: rows.get(n, (0, 0)) for n in expected} == expected, (since, rows)
        by_campaign = report("campaign", since, until)
        (row,) = by_campaign["rows"]
        assert row["campaign_id"] == cid
        assert (row["texted"], row["delivered"]) == (
            sum(t for t, _ in expected.values()),
            sum(d for _, d in expected.values()),
        )
        assert (by_campaign["total"]["texted"], by_campaign["total"]["delivered"]) == (
            row["texted"],
            row["delivered"],
        )


def _manager(live):
    """A test client signed in as a manager."""
    from test_dashboard import _sign_in

    from textbank.accounts import create_user

    with session_scope(live.sessions) as session:
        create_user(session, "boss@example.org", "manager", "correct horse battery")
    client = live.app.test_client()
    _sign_in(client, "boss@example.org", "correct horse battery")
    return client


def test_the_dashboard_shows_the_calls(live, auth):
    cid = _run_campaign(live, auth)
    client = _manager(live)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="calls"' in page and f'data-campaign-id="{cid}"' in page
    assert 'Pressed for “volunteer”</dt><dd data-col="pressed-volunteer">1</dd>' in page
    assert '<dd data-col="voicemails">1</dd>' in page and "Opted out (pressed 9)" in page


def test_the_campaign_page_shows_the_calls(live, auth):
    """The manager's campaign page: each call measure with its count and what it means."""
    import re

    from textbank.reports.measures import MEASURES

    cid = _run_campaign(live, auth)
    client = _manager(live)
    page = client.get(f"/campaigns/{cid}")
    assert page.status_code == 200
    live_part = client.get(f"/campaigns/{cid}/live").text
    counts = dict(re.findall(r'data-measure="(\w+)">\s*<dt>[^<]*</dt>\s*<dd>([^<]*)<', live_part))
    assert {k: counts[k] for k in ("members", "calls_placed", "calls_answered", "voicemails",
                                   "calls_opted_out", "calls_no_answer", "calls_busy",
                                   "calls_failed", "calls_pressed")} == {
        "members": "3", "calls_placed": "3", "calls_answered": "2", "voicemails": "1",
        "calls_opted_out": "1", "calls_no_answer": "0", "calls_busy": "0", "calls_failed": "0",
        "calls_pressed": "1",
    }  # fmt: skip
    assert float(counts["call_minutes"]) > 0
    assert re.search(r'data-outcome="volunteer"><td>volunteer</td><td class="num">1<', live_part)
    for key in ("calls_placed", "voicemails", "calls_opted_out"):
        assert MEASURES[key].for_campaign in live_part  # what the count means, beside it
        assert MEASURES[key].definition in page.text  # and in full below
    assert "Texted" not in live_part  # a voice campaign sends no texts


def test_a_recording_plays_instead_of_text_to_speech(live, auth):
    seed(live.sessions, [("Ana", "617-555-0101", "1199", "en")])
    cid = live.client.post("/api/v1/campaigns", headers=auth,
                           json=voice_campaign()).get_json()["id"]  # fmt: skip
    put = lambda path, body, kind: live.client.put(  # noqa: E731
        f"/api/v1/campaigns/{cid}/recordings/{path}", headers={**auth, "Content-Type": kind},
        data=body)  # fmt: skip
    assert "not MP3 audio" in put("en/script", b"hello", "audio/mpeg").get_json()["error"]
    assert (
        "audio/mpeg (MP3) or audio/wav" in put("en/script", MP3, "text/plain").get_json()["error"]
    )
    assert "no script in language fr" in put("fr/script", MP3, "audio/mpeg").get_json()["error"]
    stored = put("en/script", MP3, "audio/mpeg")
    assert stored.status_code == 201
    url = stored.get_json()["url"]
    audio = live.client.get(url.removeprefix(live.url))
    assert audio.status_code == 200 and audio.data == MP3 and audio.mimetype == "audio/mpeg"
    _plan(live, "+16175550101", "human", "1")
    assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    run_queue(live.settings)
    _wait(lambda: _rows(live)["+16175550101"].status == "completed")
    (call,) = live.sandbox.state.all_calls()
    assert f"<Play>{url}</Play>" in call.twiml[0]
    late = put("en/script", MP3, "audio/mpeg")
    assert (
        late.status_code == 400 and "only while it is a draft or paused" in late.get_json()["error"]
    )
