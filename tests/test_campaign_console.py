"""The campaign console in the browser: build with a preview, launch, watch, and the list."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from blast_helpers import run_queue, seed
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from textbank.accounts import create_user
from textbank.db import session_scope
from textbank.enqueue import QueueName, queue
from textbank.models import Campaign, CampaignStatus, OutboundMessage

PASSWORD = "correct horse battery"
MEMBERS = [
    ("Ana", "617-555-0101", "1199", "es", "gotv"),
    ("Luis", "617-555-0102", "1199", "en", "gotv"),
    ("Rosa", "617-555-0103", "1199", "en", ""),
    ("Wei", "617-555-0104", "26", "en", "gotv"),
]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _sign_in(client, role="manager"):
    page = client.get("/login")
    email = f"{role}@example.org"
    data = {"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)}
    return client.post("/login", data=data)


@pytest.fixture
def users(sessions):
    with session_scope(sessions) as session:
        for role in ("manager", "volunteer"):
            create_user(session, f"{role}@example.org", role, PASSWORD)


def _form(client, **fields) -> dict:
    page = client.get("/campaigns/new")
    data = {
        "csrf_token": _csrf(page.text), "keyword_rows": "4", "name": "GOTV Nov 3",
        "kind": "gotv", "message": "Hi {first_name}! {local} votes Tuesday. Reply YES.",
        "translation_es": "¡Hola {first_name}! El {local} vota el martes. Responde SÍ.",
        "locals": "1199", "kw_word_0": "YES", "kw_outcome_0": "pledged_to_vote",
        "kw_reply_0": "Thank you!", "kw_reply_es_0": "¡Gracias!", "kw_word_1": "SI",
        "kw_outcome_1": "pledged_to_vote", "goal_action": "40",
    }  # fmt: skip
    data.update(fields)
    return data


def _create(client, **fields) -> int:
    response = client.post("/campaigns/new", data=_form(client, **fields))
    assert response.status_code == 302, response.text
    return int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))


def _post(client, path: str, follow_redirects=False, **data):
    page = client.get("/campaigns")
    return client.post(
        path, data={"csrf_token": _csrf(page.text), **data}, follow_redirects=follow_redirects
    )


def test_build_preview_and_save_a_campaign(client, users, sessions):
    seed(sessions, MEMBERS)
    _sign_in(client)
    data = _form(client)
    preview = client.post("/campaigns/preview", data=data)
    assert preview.status_code == 200
    html = preview.text
    # Three members of Local 1199; each language filled in for a real one who reads it.
    assert re.search(r'data-count="textable">3<', html)
    assert "¡Hola Ana! El Local 1199 vota el martes. Responde SÍ." in html
    assert "Hi Luis! Local 1199 votes Tuesday. Reply YES." in html
    assert "Í forces UCS-2" in html and 'data-segments="1"' in html

    bad = client.post("/campaigns/new", data=_form(client, message="Hi {firstname}"))
    assert bad.status_code == 400 and "unknown merge field {firstname}" in bad.text
    assert 'value="GOTV Nov 3"' in bad.text  # what was typed is kept

    campaign_id = _create(client)
    with session_scope(sessions) as session:
        c = session.get(Campaign, campaign_id)
        assert c.translations == {"es": data["translation_es"]}
        assert c.keywords == {"YES": "pledged_to_vote", "SI": "pledged_to_vote"}
        assert c.replies == {"pledged_to_vote": {"en": "Thank you!", "es": "¡Gracias!"}}
        assert c.audience["locals"] == ["1199"] and c.goals == {"action": 0.4}
    edit = client.get(f"/campaigns/{campaign_id}/edit")
    assert 'value="Thank you!"' in edit.text and 'value="40"' in edit.text
    changed = client.post(f"/campaigns/{campaign_id}/edit", data=_form(client, name="GOTV v2"))
    assert changed.status_code == 302
    listing = client.get("/campaigns")
    assert "GOTV v2" in listing.text and "state-draft" in listing.text


def test_launch_confirmation_launch_and_watch(live, users):
    client = live.client
    seed(live.sessions, MEMBERS)
    with session_scope(live.sessions) as session:
        from textbank.models import Member

        rosa = session.scalar(select(Member).where(Member.first_name == "Rosa"))
        rosa.opted_out_at = datetime.now(UTC)
    _sign_in(client)
    campaign_id = _create(client)
    confirm = client.get(f"/campaigns/{campaign_id}/launch")
    assert re.search(r'data-plan="texted">2<', confirm.text)
    assert re.search(r'data-plan="opted_out">1<', confirm.text)
    assert re.search(r'data-plan="segments">2<', confirm.text)

    launched = _post(client, f"/campaigns/{campaign_id}/launch")
    assert launched.status_code == 302
    run_queue(live.settings)
    page = client.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200
    live_part = client.get(f"/campaigns/{campaign_id}/live").text
    assert re.search(r'data-measure="texted">\s*<dt>Texted</dt>\s*<dd>2<', live_part)
    assert "Accepted by Twilio" in live_part  # what the count means, beside it
    assert "Members Twilio accepted a text" in page.text  # and in full below

    # A member who joins the audience later is texted by "Text new members", nobody twice.
    seed(live.sessions, [("Kim", "617-555-0109", "1199", "en")])
    assert "Text 1 new member" in client.get(f"/campaigns/{campaign_id}").text
    _post(client, f"/campaigns/{campaign_id}/text-new-members")
    run_queue(live.settings)
    with session_scope(live.sessions) as session:
        phones = session.scalars(
            select(OutboundMessage.phone).where(OutboundMessage.campaign_id == campaign_id)
        ).all()
    assert sorted(phones) == ["+16175550101", "+16175550102", "+16175550109"]
    assert len(live.sandbox.state.all_messages()) >= 3
    outbound = [m.to for m in live.sandbox.state.all_messages() if m.direction == "outbound-api"]
    assert sorted(outbound) == sorted(phones)
    again = _post(client, f"/campaigns/{campaign_id}/text-new-members")
    assert again.status_code == 302


def test_members_retagged_into_the_audience_are_text_new_members(live, users):
    from collections import Counter

    from textbank.models import Member

    client = live.client
    seed(live.sessions, MEMBERS)
    _sign_in(client)
    campaign_id = _create(client, locals="", tags="gotv")  # Ana, Luis and Wei
    _post(client, f"/campaigns/{campaign_id}/launch")
    run_queue(live.settings)
    assert "/text-new-members" not in client.get(f"/campaigns/{campaign_id}").text
    with session_scope(live.sessions) as session:
        ids = dict(session.execute(select(Member.first_name, Member.id)).all())

    def retag(name: str, phone: str, tags: str) -> None:
        edited = _post(client, f"/members/{ids[name]}/edit", first_name=name, last_name="",
                       phone=phone, email="", language="en", status="active", local="1199",
                       tags=tags)  # fmt: skip
        assert edited.status_code == 302, edited.text

    retag("Rosa", "617-555-0103", "gotv")  # now in the audience, never texted
    retag("Luis", "617-555-0102", "gotv; captain")  # changed, but texted already
    page = client.get(f"/campaigns/{campaign_id}").text
    assert "Text 1 new member" in page
    _post(client, f"/campaigns/{campaign_id}/text-new-members")
    run_queue(live.settings)
    sent = Counter(m.to for m in live.sandbox.state.all_messages()
                   if m.direction == "outbound-api")  # fmt: skip
    assert sent == {"+16175550101": 1, "+16175550102": 1, "+16175550103": 1, "+16175550104": 1}
    client.get(f"/campaigns/{campaign_id}")  # the flash message says it is under way
    assert "/text-new-members" not in client.get(f"/campaigns/{campaign_id}").text
    again = _post(client, f"/campaigns/{campaign_id}/text-new-members", follow_redirects=True)
    assert "Nobody new has joined the audience" in again.text


def test_pause_resume_duplicate_archive(live, users):
    client = live.client
    seed(live.sessions, MEMBERS)
    _sign_in(client)
    campaign_id = _create(client)
    assert "Pause" not in client.get(f"/campaigns/{campaign_id}").text
    _post(client, f"/campaigns/{campaign_id}/launch")
    refused = _post(client, f"/campaigns/{campaign_id}/archive", follow_redirects=True)
    assert "pause it first" in refused.text  # still launching or sending
    _post(client, f"/campaigns/{campaign_id}/pause")
    with session_scope(live.sessions) as session:
        assert session.get(Campaign, campaign_id).status == CampaignStatus.PAUSED
    _post(client, f"/campaigns/{campaign_id}/resume")
    run_queue(live.settings)
    copy = _post(client, f"/campaigns/{campaign_id}/duplicate")
    copy_id = int(re.search(r"/campaigns/(\d+)/edit", copy.headers["Location"]).group(1))
    with session_scope(live.sessions) as session:
        original, duplicate = session.get(Campaign, campaign_id), session.get(Campaign, copy_id)
        assert duplicate.status == CampaignStatus.DRAFT and duplicate.name == "Copy of GOTV Nov 3"
        assert (duplicate.message, duplicate.translations, duplicate.keywords) == (
            original.message, original.translations, original.keywords)  # fmt: skip
    _post(client, f"/campaigns/{copy_id}/archive")
    assert "Copy of GOTV Nov 3" not in client.get("/campaigns").text
    assert "Copy of GOTV Nov 3" in client.get("/campaigns?state=archived").text


def test_console_actions_are_in_the_audit_log_with_who(live, users):
    client = live.client
    seed(live.sessions, MEMBERS)
    _sign_in(client)
    campaign_id = _create(client)
    _post(client, f"/campaigns/{campaign_id}/launch")
    _post(client, f"/campaigns/{campaign_id}/launch")  # a second press launches nothing
    _post(client, f"/campaigns/{campaign_id}/pause")
    _post(client, f"/campaigns/{campaign_id}/resume")
    run_queue(live.settings)
    seed(live.sessions, [("Kim", "617-555-0109", "1199", "en")])
    _post(client, f"/campaigns/{campaign_id}/text-new-members")
    run_queue(live.settings)
    _post(client, f"/campaigns/{campaign_id}/archive")
    rows = re.findall(r'<tr data-action="([\w.]+)">\s*<td>[^<]*</td>\s*<td>([^<]*)</td>'
                      r"\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>",
                      client.get("/audit").text)  # fmt: skip
    subject = f"campaign {campaign_id}"
    assert [(action, who, to) for action, who, to, _ in rows] == [
        ("campaign.archive", "manager@example.org", subject),
        ("campaign.text_new_members", "manager@example.org", subject),
        ("campaign.resume", "manager@example.org", subject),
        ("campaign.pause", "manager@example.org", subject),
        ("campaign.launch", "manager@example.org", subject),
    ]
    assert "added: 1" in rows[1][3] and "via: console" in rows[-1][3]


def test_schedule_a_launch(client, users, sessions, redis_client):
    seed(sessions, MEMBERS)
    _sign_in(client)
    campaign_id = _create(client)
    past = _post(client, f"/campaigns/{campaign_id}/schedule", when="2020-01-01T09:00",
                 timezone="America/New_York", follow_redirects=True)  # fmt: skip
    assert "the launch time has passed" in past.text
    when = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    local = when.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago"))
    done = _post(client, f"/campaigns/{campaign_id}/schedule",
                 when=local.strftime("%Y-%m-%dT%H:%M"), timezone="America/Chicago",
                 follow_redirects=True)  # fmt: skip
    assert "Scheduled to launch" in done.text
    with session_scope(sessions) as session:
        assert session.get(Campaign, campaign_id).scheduled_at == when
    registry = ScheduledJobRegistry(queue=queue(QueueName.DEFAULT, redis_client))
    assert any(str(campaign_id) in job_id for job_id in registry.get_job_ids())
    assert "state-scheduled" in client.get("/campaigns?state=scheduled").text
    _post(client, f"/campaigns/{campaign_id}/schedule", cancel="1")
    with session_scope(sessions) as session:
        assert session.get(Campaign, campaign_id).scheduled_at is None


def test_volunteers_and_strangers_are_refused(client, users, sessions):
    assert client.get("/campaigns").status_code == 302  # to sign in
    with session_scope(sessions) as session:  # a volunteer signed in to their own console
        from textbank.models import User

        volunteer_id = session.scalar(select(User.id).where(User.role == "volunteer"))
    with client.session_transaction() as cookie:
        cookie["user_id"] = volunteer_id
    assert client.get("/campaigns").status_code == 403
    assert client.get("/campaigns/new").status_code == 403


def test_posts_need_the_csrf_token(client, users, sessions):
    seed(sessions, MEMBERS)
    _sign_in(client)
    campaign_id = _create(client)
    assert client.post(f"/campaigns/{campaign_id}/archive").status_code == 400
    assert client.get("/campaigns/999").status_code == 404


def test_member_text_is_escaped(client, users, sessions):
    seed(sessions, [("<b>Ana</b>", "617-555-0101", "1199", "en")])
    _sign_in(client)
    html = client.post("/campaigns/preview", data=_form(client)).text
    assert "<b>Ana</b>" not in html and "&lt;b&gt;Ana&lt;/b&gt;" in html


def test_campaign_list_api(client, auth, sessions):
    seed(sessions, MEMBERS)
    ids = []
    for name in ("One", "Two", "Three"):
        body = {"name": name, "kind": "petition" if name == "Two" else "gotv",
                "message": "Sign, {first_name}!", "audience": {}}  # fmt: skip
        ids.append(client.post("/api/v1/campaigns", json=body, headers=auth).get_json()["id"])
    page = client.get("/api/v1/campaigns?limit=2", headers=auth).get_json()
    assert [c["name"] for c in page["campaigns"]] == ["Three", "Two"]
    rest = client.get(f"/api/v1/campaigns?limit=2&after={page['next']}", headers=auth).get_json()
    assert [c["name"] for c in rest["campaigns"]] == ["One"] and rest["next"] is None
    petitions = client.get("/api/v1/campaigns?kind=petition", headers=auth).get_json()
    assert [c["name"] for c in petitions["campaigns"]] == ["Two"]
    first = page["campaigns"][0]
    assert first["state"] == "draft" and first["audience"] is None
    assert first["replies_waiting"] == 0 and first["mode"] == "blast"
    drafts = client.get("/api/v1/campaigns?state=draft", headers=auth).get_json()
    assert len(drafts["campaigns"]) == 3
    bad = client.get("/api/v1/campaigns?state=finished", headers=auth)
    assert bad.status_code == 400 and "state" in bad.get_json()["error"]
    assert client.get("/api/v1/campaigns?limit=x", headers=auth).status_code == 400
    assert client.get("/api/v1/campaigns?after=abc", headers=auth).status_code == 400
