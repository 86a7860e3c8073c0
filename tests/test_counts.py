"""Counts a manager can trust: what is a conversation, each member once, whose opt-out."""

import time

from blast_helpers import act_on_replies, inbound, run_queue, seed, signed_post

from textbank.reports.measures import MEASURES

ANA, LUIS, ROSA, KIM = "+16175550101", "+16175550102", "+16175550103", "+16175550104"


def _blast(live, auth, name: str, audience: dict) -> int:
    campaign = live.client.post("/api/v1/campaigns", headers=auth, json={
        "name": name, "kind": "gotv", "message": "Vote {first_name}! Reply YES.",
        "audience": audience, "keywords": {"YES": "pledged_to_vote"},
    }).get_json()  # fmt: skip
    live.client.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=auth)
    run_queue(live.settings)
    url = f"/api/v1/campaigns/{campaign['id']}/stats"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = live.client.get(url, headers=auth).get_json()
        if stats["delivered"] + stats["failed"] == stats["sent"] and stats["queued"] == 0:
            break
        time.sleep(0.05)
    return campaign["id"]


def _reply(live, phone: str, body: str) -> None:
    response = signed_post(live.client, live.settings, "/twilio/sms", inbound(phone, body))
    assert response.status_code == 200
    act_on_replies(live.settings)


def _stats(live, auth, campaign_id: int) -> dict:
    return live.client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=auth).get_json()


def test_stop_help_and_start_are_not_conversations(live, auth):
    seed(live.sessions, [("Ana", ANA, "1", "en"), ("Luis", LUIS, "1", "en"),
                         ("Rosa", ROSA, "1", "en"), ("Kim", KIM, "1", "en")])  # fmt: skip
    campaign_id = _blast(live, auth, "GOTV", {})
    _reply(live, ANA, "HELP")
    _reply(live, LUIS, "STOP")
    _reply(live, ROSA, "when is it?")
    _reply(live, KIM, "yes")
    stats = _stats(live, auth, campaign_id)
    assert (stats["replied"], stats["opted_out"]) == (2, 1)
    report = live.client.get("/api/v1/reports/engagement?by=campaign", headers=auth).get_json()
    (row,) = report["rows"]
    assert (row["members"], row["replied"], row["conversation_rate"]) == (4, 2, 0.5)
    by_local = live.client.get("/api/v1/reports/engagement?by=local", headers=auth).get_json()
    assert by_local["total"]["replied"] == 2


def test_the_per_campaign_total_counts_each_member_once(live, auth):
    seed(live.sessions, [("Ana", ANA, "1", "en", "a"), ("Luis", LUIS, "1", "en", "a;b"),
                         ("Rosa", ROSA, "2", "en", "b")])  # fmt: skip
    first = _blast(live, auth, "First", {"tags": ["a"]})
    second = _blast(live, auth, "Second", {"tags": ["b"]})
    _reply(live, LUIS, "yes")  # attributed to the campaign that texted him last
    report = live.client.get("/api/v1/reports/engagement?by=campaign", headers=auth).get_json()
    rows = {r["campaign_id"]: r for r in report["rows"]}
    assert (rows[first]["members"], rows[second]["members"]) == (2, 2)
    assert report["total"]["members"] == 3  # Luis is one member, in both campaigns
    assert report["total"]["texted"] == 3 and report["total"]["replied"] == 1
    csv_text = live.client.get(
        "/api/v1/reports/engagement?by=campaign&format=csv", headers=auth
    ).get_data(as_text=True)
    assert csv_text.splitlines()[-1].startswith("TOTAL,3,3,")


def test_a_campaigns_opt_outs_are_those_in_answer_to_it(live, auth):
    seed(live.sessions, [("Ana", ANA, "1", "en"), ("Luis", LUIS, "1", "en"),
                         ("Rosa", ROSA, "1", "en")])  # fmt: skip
    live.sandbox.state.unsubscribe(ROSA)  # the carrier answers the text with 21610
    campaign_id = _blast(live, auth, "GOTV", {})
    _reply(live, ANA, "STOP")
    _reply(live, ANA, "START")  # back in later: still an opt-out this campaign drew
    # A suppression list naming Luis is not an answer to the campaign.
    live.client.post("/api/v1/opt-outs", headers=auth, json={"phones": [LUIS]})
    stats = _stats(live, auth, campaign_id)
    assert stats["opted_out"] == 2
    report = live.client.get("/api/v1/reports/engagement?by=campaign", headers=auth).get_json()
    assert report["rows"][0]["opted_out"] == 2 and report["total"]["opted_out"] == 2
    one = live.client.get(
        f"/api/v1/reports/engagement?by=local&campaign={campaign_id}", headers=auth
    ).get_json()
    assert one["rows"][0]["opted_out"] == 2
    assert "START" in MEASURES["opted_out"].definition


def test_fast_counts_match_a_recount_from_the_texts(live, auth):
    from sqlalchemy import func, select

    from textbank.campaigns.counts import all_message_counts
    from textbank.db import session_scope
    from textbank.models import OutboundMessage as OUT
    from textbank.reports.engagement import ALL, ReportFilter, _recount, engagement

    seed(live.sessions, [("Ana", ANA, "1", "en", "a"), ("Luis", LUIS, "1", "en", "a;b"),
                         ("Rosa", ROSA, "2", "en", "b"), ("Kim", KIM, "2", "en", "b")])  # fmt: skip
    live.sandbox.state.unsubscribe(KIM)
    _blast(live, auth, "First", {"tags": ["a"]})
    _blast(live, auth, "Second", {"tags": ["b"]})
    _reply(live, LUIS, "yes")
    _reply(live, ROSA, "STOP")
    with session_scope(live.sessions) as session:
        by_status = session.execute(
            select(OUT.campaign_id, OUT.status, func.count(), func.count(OUT.twilio_sid)).group_by(
                OUT.campaign_id, OUT.status
            )
        ).all()
        counters = all_message_counts(session)
        for campaign_id, status, n, _sent in by_status:
            assert counters[campaign_id].by_status[status] == n
        assert {c: x.sent for c, x in counters.items()} == {
            c: sum(r[3] for r in by_status if r[0] == c) for c in counters}  # fmt: skip
        fast = engagement(session, "campaign")["total"]
        recount = _recount(session, ALL, ReportFilter())[None]
    for measure in ("members", "texted", "delivered", "failed", "replied", "acted", "opted_out"):
        assert fast[measure] == recount.get(measure, 0), measure
    assert (fast["members"], fast["failed"], fast["opted_out"]) == (4, 1, 2)
    # The per-local counters the database keeps follow members through an import, a local
    # merge, an opt-out and a deletion: each local's row equals a recount from the events.
    seed(live.sessions, [("Mei", "+16175550105", "3", "en")])
    with session_scope(live.sessions) as session:
        from textbank.members.editing import merge_locals
        from textbank.models import Local, Member, User
        from textbank.reports.engagement import MEASURES as COUNTED

        def per_local() -> dict:
            return {r["local"]: {m: r[m] for m in COUNTED}
                    for r in engagement(session, "local")["rows"]}  # fmt: skip

        def recounted() -> dict:
            numbers = dict(session.execute(select(Local.id, Local.number)).all())
            counts = _recount(session, "local", ReportFilter())
            return {numbers[k]: {m: v.get(m, 0) for m in COUNTED} for k, v in counts.items()}

        assert per_local() == recounted() and per_local()["1"]["texted"] == 2
        by_number = {x.number: x for x in session.scalars(select(Local))}
        boss = User(email="boss@example.org", role="manager", password_hash="x")
        session.add(boss)
        merge_locals(session, boss, by_number["2"], by_number["1"])
        session.delete(session.scalar(select(Member).where(Member.phone == ANA)))
        session.flush()
        assert per_local() == recounted()
        assert per_local()["1"]["members"] == 3 and per_local()["1"]["opted_out"] == 2
