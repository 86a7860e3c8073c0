"""Call measures in the engagement report, the dashboard, and recordings for <Play>."""

from __future__ import annotations

import csv
import io

from blast_helpers import run_queue, seed
from test_voice_campaigns import _plan, _rows, _wait
from voice_helpers import voice_campaign

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


def test_the_dashboard_shows_the_calls(live, auth):
    cid = _run_campaign(live, auth)
    from test_dashboard import _sign_in

    from textbank.accounts import create_user
    from textbank.db import session_scope

    with session_scope(live.sessions) as session:
        create_user(session, "boss@example.org", "manager", "correct horse battery")
    client = live.app.test_client()
    _sign_in(client, "boss@example.org", "correct horse battery")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="calls"' in page and f'data-campaign-id="{cid}"' in page
    assert 'Pressed for “volunteer”</dt><dd data-col="pressed-volunteer">1</dd>' in page
    assert '<dd data-col="voicemails">1</dd>' in page and "Pressed 9 (no more calls)" in page


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
