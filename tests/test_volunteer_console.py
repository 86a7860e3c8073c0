"""The volunteer console over HTTP: P2P launch, batches, one-press first texts, the inbox."""

from __future__ import annotations

import threading
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from blast_helpers import act_on_replies, inbound, signed_post
from sqlalchemy import event, func, select
from volunteer_helpers import (
    MEMBERS,
    P2P_CAMPAIGN,
    PHONES,
    csrf,
    held_by,
    launch_p2p,
    sign_in,
    volunteer,
)

from textbank import create_app
from textbank.compliance.quiet_hours import SendWindow
from textbank.conversations import batches, live
from textbank.conversations.reclaim import reclaim_stale
from textbank.db import session_scope
from textbank.enqueue import QueueName, queue
from textbank.members.phones import time_zones
from textbank.models import (
    Campaign,
    Conversation,
    Member,
    MemberTag,
    OptOutEvent,
    OutboundMessage,
    Outcome,
    User,
    utcnow,
)
from textbank.web import database

ALL_DAY = SendWindow(0, 24 * 60)


@pytest.fixture
def sessions(console):
    return console.extensions["textbank.sessions"]


@pytest.fixture
def manager(sessions):
    from textbank.accounts import create_token

    volunteer(sessions, "manager@example.org", role="manager")
    with session_scope(sessions) as session:
        return {"Authorization": f"Bearer {create_token(session, 'manager@example.org')}"}


def _client(console, email):
    client = console.test_client()
    sign_in(client, email)
    return client


def _statuses(sessions, campaign_id) -> dict:
    with sessions() as session:
        return dict(session.execute(
            select(OutboundMessage.status, func.count())
            .where(OutboundMessage.campaign_id == campaign_id)
            .group_by(OutboundMessage.status)
        ).all())  # fmt: skip


def _row_of_card(html: str) -> int:
    import re

    return int(re.search(r'name="row" value="(\d+)"', html).group(1))


def test_a_p2p_launch_snapshots_the_audience_and_texts_nobody(console, sessions, manager,
                                                               redis_client):  # fmt: skip
    client = console.test_client()
    campaign_id = launch_p2p(client, sessions, manager)
    assert _statuses(sessions, campaign_id) == {"held": 6}  # Local 1199 only
    assert queue(QueueName.SEND, redis_client).count == 0  # no worker will text them
    body = client.get(f"/api/v1/campaigns/{campaign_id}", headers=manager).get_json()
    assert body["mode"] == "p2p" and body["batch_size"] == 3 and body["status"] == "sending"
    assert body["canned_responses"][0]["title"] == "Where is it?"
    assert body["survey"]["answers"][1]["outcome"] == "maybe_attending"


@pytest.mark.parametrize("change, field", [
    ({"mode": "robocall"}, "mode"),
    ({"batch_size": 0}, "batch_size"),
    ({"canned_responses": [{"title": "x"}]}, "canned_responses[0].text"),
    ({"canned_responses": [{"title": "x", "text": "{nope}"}]}, "canned_responses[0].text"),
    ({"survey": {"question": "Coming?", "answers": [{"label": "Y", "outcome": "Bad Name"}]}},
     "survey.answers[0].outcome"),
    ({"reclaim_minutes": "soon"}, "reclaim_minutes"),
])  # fmt: skip
def test_bad_console_settings_are_refused_naming_the_field(console, sessions, manager, change,
                                                           field):  # fmt: skip
    from blast_helpers import seed

    seed(sessions, MEMBERS)
    response = console.test_client().post(
        "/api/v1/campaigns", json={**P2P_CAMPAIGN, **change}, headers=manager
    )
    assert response.status_code == 400
    assert field in response.get_json()["error"]


def test_batches_prefer_the_volunteers_languages_and_one_is_held_at_a_time(console, sessions,
                                                                           manager):  # fmt: skip
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    volunteer(sessions, "ines@example.org", languages=["es"])
    ines = _client(console, "ines@example.org")
    home = ines.get("/volunteer")
    assert "Rally &lt;Saturday&gt;" in home.text and "Request a batch" in home.text
    taken = ines.post(f"/volunteer/campaigns/{campaign_id}/batch",
                      data={"csrf_token": csrf(home.text)})  # fmt: skip
    assert taken.status_code == 302
    with sessions() as session:
        langs = session.execute(
            select(Member.first_name, Member.language)
            .join(OutboundMessage, OutboundMessage.member_id == Member.id)
            .where(OutboundMessage.volunteer_id != None)  # noqa: E711
            .order_by(Member.id)
        ).all()
    assert [lang for _, lang in langs].count("es") == 2  # both Spanish speakers, then one more
    assert len(langs) == 3
    again = ines.post(f"/volunteer/campaigns/{campaign_id}/batch",
                      data={"csrf_token": csrf(home.text)})  # fmt: skip
    assert again.status_code == 302
    with sessions() as session:
        assert session.scalar(select(func.count()).where(
            OutboundMessage.volunteer_id != None)) == 3  # noqa: E711  # fmt: skip


def test_fifty_volunteers_asking_at_once_never_share_a_member(console, sessions, manager):
    members = [(f"M{i}", f"617-555-{1000 + i:04d}", "1199", "en") for i in range(300)]
    campaign_id = launch_p2p(console.test_client(), sessions, manager,
                             {**P2P_CAMPAIGN, "batch_size": 5}, members)  # fmt: skip
    ids = [volunteer(sessions, f"v{i}@example.org") for i in range(50)]
    start = threading.Barrier(len(ids))
    errors = []

    def ask(user_id: int) -> None:
        try:
            start.wait()
            with session_scope(sessions) as session:
                batches.request_batch(session, session.get(User, user_id), campaign_id, utcnow())
        except Exception as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    workers = [threading.Thread(target=ask, args=(i,)) for i in ids]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []
    held = [held_by(sessions, i) for i in ids]
    assert all(len(h) == 5 for h in held)
    everyone = [m for h in held for m in h]
    assert len(everyone) == len(set(everyone)) == 250


def test_send_is_one_text_per_press_and_never_shows_a_phone(console, sessions, manager,
                                                            redis_client):  # fmt: skip
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    page = val.get(f"/volunteer/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "Send" in page.text and "Done for today" in page.text
    row = _row_of_card(page.text)
    htmx = {"HX-Request": "true"}
    first = val.post(f"/volunteer/campaigns/{campaign_id}/send",
                     data={"csrf_token": token, "row": row}, headers=htmx)  # fmt: skip
    assert first.status_code == 200 and "Sent. Here is the next member." in first.text
    assert _row_of_card(first.text) != row  # the next member, without a page load
    twice = val.post(f"/volunteer/campaigns/{campaign_id}/send",
                     data={"csrf_token": token, "row": row}, headers=htmx)  # fmt: skip
    assert twice.status_code == 200
    assert _statuses(sessions, campaign_id) == {"held": 5, "pending": 1}
    assert queue(QueueName.SEND, redis_client).count == 1  # the pipeline sends it
    for html in (page.text, first.text, twice.text, val.get("/volunteer").text):
        assert not any(p in html or p[2:] in html for p in PHONES)
    # Without the CSRF token nothing is sent.
    refused = val.post(f"/volunteer/campaigns/{campaign_id}/send", data={"row": row + 1})
    assert refused.status_code == 400
    assert _statuses(sessions, campaign_id) == {"held": 5, "pending": 1}


def test_a_send_is_three_statements_and_presses_share_one_gathering_job(
    console, sessions, manager, redis_client
):
    """Every press of Send runs the same few statements: the pressed row with the volunteer
    holding it, its release and the next card (with the count left) in one transaction
    (consoles.fast_send); presses made while a job is queued add no job, and the job waits
    a moment to take them together."""
    from sqlalchemy import event

    from textbank.enqueue import GATHER_SECONDS

    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    row = _row_of_card(val.get(f"/volunteer/campaigns/{campaign_id}").text)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):  # SQLite's own BEGIN
            statements.append(statement)

    engine = console.extensions["textbank.engine"]
    htmx = {"HX-Request": "true"}
    for press in range(2):
        event.listen(engine, "before_cursor_execute", seen)
        try:
            sent = val.post(f"/volunteer/campaigns/{campaign_id}/send",
                            data={"csrf_token": token, "row": row}, headers=htmx)  # fmt: skip
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert sent.status_code == 200 and "Sent." in sent.text
        assert len(statements) == 3 * (press + 1), statements
        row = _row_of_card(sent.text)
    assert "<span data-remaining>1</span> left" in sent.text  # the count, with the card
    assert _statuses(sessions, campaign_id) == {"held": 4, "pending": 2}
    jobs = queue(QueueName.SEND, redis_client).get_jobs()
    assert len(jobs) == 1 and jobs[0].kwargs == {"gather": GATHER_SECONDS}


def test_a_volunteer_cannot_send_another_volunteers_first_text(console, sessions, manager):
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    volunteer(sessions, "a@example.org")
    volunteer(sessions, "b@example.org")
    a, b = _client(console, "a@example.org"), _client(console, "b@example.org")
    token_a, token_b = csrf(a.get("/volunteer").text), csrf(b.get("/volunteer").text)
    a.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token_a})
    row = _row_of_card(a.get(f"/volunteer/campaigns/{campaign_id}").text)
    stolen = b.post(f"/volunteer/campaigns/{campaign_id}/send",
                    data={"csrf_token": token_b, "row": row})  # fmt: skip
    assert stolen.status_code == 404
    assert _statuses(sessions, campaign_id) == {"held": 6}


def test_opted_out_members_and_quiet_hours_hold_the_send(console, settings, sessions, manager):
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    row = _row_of_card(val.get(f"/volunteer/campaigns/{campaign_id}").text)
    with session_scope(sessions) as session:
        member = session.scalar(
            select(Member).join(OutboundMessage, OutboundMessage.member_id == Member.id)
            .where(OutboundMessage.id == row))  # fmt: skip
        from textbank.compliance.optouts import opt_out
        from textbank.models import OptOutSource

        opt_out(session, member.phone, OptOutSource.SMS_KEYWORD, utcnow())
    htmx = {"HX-Request": "true"}
    sent = val.post(f"/volunteer/campaigns/{campaign_id}/send",
                    data={"csrf_token": token, "row": row}, headers=htmx)  # fmt: skip
    assert "opted out, so no text was sent" in sent.text
    assert _statuses(sessions, campaign_id) == {"held": 5, "skipped": 1}

    # Outside every member's hours the button waits and says when; the member stays held.
    # The window is one minute, twelve hours from the member's time now: never open today.
    (zone,) = time_zones(member.phone)
    local = utcnow().astimezone(ZoneInfo(zone))
    start = (local.hour * 60 + local.minute + 720) % (24 * 60 - 1)
    night = create_app(replace(settings, send_window=SendWindow(start, start + 1)))
    night.config.update(TESTING=True)
    try:
        client = night.test_client()
        sign_in(client, "val@example.org")
        page = client.get(f"/volunteer/campaigns/{campaign_id}")
        assert "Texting opens for" in page.text and "disabled" in page.text
        later = client.post(f"/volunteer/campaigns/{campaign_id}/send",
                            data={"csrf_token": csrf(page.text), "row": _row_of_card(page.text)},
                            headers={"HX-Request": "true"})  # fmt: skip
        assert "cannot be texted yet" in later.text
        assert _statuses(sessions, campaign_id) == {"held": 5, "skipped": 1}
    finally:
        database.dispose(night)


def test_done_for_today_releases_the_unsent_part(console, sessions, manager):
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    vid = volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    row = _row_of_card(val.get(f"/volunteer/campaigns/{campaign_id}").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/send", data={"csrf_token": token, "row": row})
    done = val.post(f"/volunteer/campaigns/{campaign_id}/done", data={"csrf_token": token},
                    follow_redirects=True)  # fmt: skip
    assert "your batch was released. The 2 members you had not texted go back" in done.text
    assert "texted everyone" not in done.text  # it says what happened: released, not finished
    assert "Done for today</button>" not in done.text  # nothing is held: nothing to release
    assert held_by(sessions, vid) == []


def _texted_and_replied(console, sessions, manager, body="Where is the rally?", campaign=None):
    """A volunteer texts their batch (as the pipeline would record it) and Ana replies."""
    campaign_id = launch_p2p(console.test_client(), sessions, manager, campaign)
    vid = volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    with session_scope(sessions) as session:
        for i, row in enumerate(session.scalars(
                select(OutboundMessage).where(OutboundMessage.volunteer_id == vid))):  # fmt: skip
            row.status, row.twilio_sid, row.sent_at = "delivered", f"SM{i:032d}", utcnow()
    settings = console.extensions["textbank.settings"]
    response = signed_post(console.test_client(), settings, "/twilio/sms",
                           inbound(PHONES[0], body))  # fmt: skip
    assert response.status_code == 200
    act_on_replies(settings)
    with sessions() as session:
        conversation_id = session.scalar(select(Conversation.id))
    return campaign_id, vid, val, token, conversation_id


def _next_message(pubsub):
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message is not None:
            return message
    raise AssertionError("nothing was published")


def test_a_reply_goes_live_to_the_volunteer_who_texted_them(console, sessions, manager,
                                                            redis_client):  # fmt: skip
    campaign_id = launch_p2p(console.test_client(), sessions, manager)
    vid = volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    val.post(f"/volunteer/campaigns/{campaign_id}/batch",
             data={"csrf_token": csrf(val.get("/volunteer").text)})  # fmt: skip
    with session_scope(sessions) as session:
        for i, row in enumerate(session.scalars(
                select(OutboundMessage).where(OutboundMessage.volunteer_id == vid))):  # fmt: skip
            row.status, row.twilio_sid = "delivered", f"SM{i:032d}"
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.scoped(redis_client, live.user_channel(vid)))
    live.seen(redis_client, vid, utcnow())  # their console is open
    settings = console.extensions["textbank.settings"]
    signed_post(console.test_client(), settings, "/twilio/sms", inbound(PHONES[0], "Where?"))
    act_on_replies(settings)  # the worker acts on the reply and pushes it
    payload = _next_message(pubsub)["data"].decode()
    with sessions() as session:
        conversation = session.scalar(select(Conversation))
        assert conversation.volunteer_id == vid
    # Rendered for the console once, by the worker: the thread and its list entry.
    assert f"event: conv-{conversation.id}" in payload and "Where?" in payload
    assert "event: entry" in payload and f'data-holder="{vid}"' in payload
    assert PHONES[0] not in payload and PHONES[0][2:] not in payload


@pytest.mark.parametrize(
    "body, flagged",
    [("Actually STOP texting me", True), ("please remove me from this list", True),
     ("Don't text me anymore", True), ("wrong number, sorry", True), ("unsubscribe", True),
     ("Where is the rally?", False), ("Stopping by after work", False), ("nonstop fun", False)],
)  # fmt: skip
def test_replies_that_read_like_an_opt_out_are_flagged(body, flagged):
    from textbank.replies.keywords import sounds_like_opt_out

    assert sounds_like_opt_out(body) is flagged


def test_a_members_stop_turns_their_open_thread_off_live(console, sessions, manager,
                                                         redis_client):  # fmt: skip
    _, vid, val, _, cid = _texted_and_replied(console, sessions, manager,
                                              body="Actually STOP texting me")  # fmt: skip
    # No opt-out rule caught it (a person decides), but the volunteer is shown it reads like one.
    assert "data-asks-to-stop" in val.get(f"/volunteer/conversations/{cid}").text
    assert "may want to stop" in val.get("/volunteer/inbox").text
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*(live.scoped(redis_client, c) for c in (live.user_channel(vid),
                                                               live.POOL_CHANNEL)))  # fmt: skip
    settings = console.extensions["textbank.settings"]
    stop = signed_post(console.test_client(), settings, "/twilio/sms", inbound(PHONES[0], "STOP"))
    assert stop.status_code == 200
    payload = _next_message(pubsub)["data"].decode()  # rendered once, by the webhook
    assert f"event: conv-{cid}" in payload
    # The open thread's update marks it opted out and takes Reply and Opt out away.
    assert f'id="answer-{cid}" hx-swap-oob="true"' in payload and "Reply is off" in payload
    assert f'<div id="optout-{cid}" hx-swap-oob="delete">' in payload
    assert "data-asks-to-stop" not in payload  # opted out now: nothing left to flag
    assert PHONES[0] not in payload
    page = val.get(f"/volunteer/conversations/{cid}").text
    assert ">Reply</button>" not in page and "Reply is off" in page


def test_a_reply_reads_the_member_once_and_never_their_tags(console, sessions, manager,
                                                            redis_client):  # fmt: skip
    """A Reply loaded the member (with their tags) for the text and again for the thread it
    answers with: a sixth of the web's CPU under 200 volunteers (scripts/bench_console.py)."""
    _, _, val, token, cid = _texted_and_replied(console, sessions, manager)
    with session_scope(sessions) as session:
        member_id = session.scalar(select(Conversation.member_id).where(Conversation.id == cid))
        session.add(MemberTag(member_id=member_id, tag="steward"))
    engine = console.extensions["textbank.engine"]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        answered = val.post(f"/volunteer/conversations/{cid}/reply", headers={"HX-Request": "true"},
                            data={"csrf_token": token, "key": "k-" + "2" * 20,
                                  "message": "10 AM at the hall"})  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert answered.status_code == 200 and "10 AM at the hall" in answered.text
    reads = [s for s in statements if s.startswith("SELECT")]
    assert sum(" FROM members " in s for s in reads) == 1
    assert not any("member_tags" in s for s in statements)
    work = [s for s in statements if s.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    assert len(work) <= 8, work  # it was 11


def test_the_inbox_answers_records_and_opts_out(console, sessions, manager, redis_client):
    campaign_id, vid, val, token, cid = _texted_and_replied(
        console, sessions, manager, body="<b>Where</b> is it?"
    )
    page = val.get(f"/volunteer/conversations/{cid}")
    assert page.status_code == 200
    assert "&lt;b&gt;Where&lt;/b&gt; is it?" in page.text  # member text escaped
    assert "It&#39;s at the union hall, Ana: 10 AM." in page.text  # canned, merge fields filled
    for name in ("Reply", "Opt out", "Skip", "Record outcome"):
        assert f">{name}</button>" in page.text
    assert '<label for="message-' in page.text and ">Message</label>" in page.text
    key = "k-" + "1" * 20
    for _ in range(2):  # a double press is one text
        answered = val.post(
            f"/volunteer/conversations/{cid}/reply",
            headers={"HX-Request": "true"},
            data={"csrf_token": token, "key": key, "message": "10 AM, the hall"},
        )
        assert answered.status_code == 200
    with sessions() as session:
        replies = session.scalars(select(OutboundMessage).where(
            OutboundMessage.conversation_id == cid)).all()  # fmt: skip
        assert [(r.body, r.status, r.volunteer_id) for r in replies] == [
            ("10 AM, the hall", "pending", vid)
        ]
    assert queue(QueueName.SEND, redis_client).count == 1
    recorded = val.post(f"/volunteer/conversations/{cid}/survey", headers={"HX-Request": "true"},
                        data={"csrf_token": token, "answer": "0"})  # fmt: skip
    assert "Great, Ana! See you there." in recorded.text  # the next script line, ready
    report = (
        console.test_client()
        .get(f"/api/v1/reports/engagement?by=campaign&campaign={campaign_id}", headers=manager)
        .get_json()
    )
    assert report["rows"][0]["acted"] == 1 and report["rows"][0]["texted"] == 3
    with sessions() as session:
        outcome = session.scalar(select(Outcome))
        assert (outcome.name, outcome.source) == ("attending", "volunteer_tag")
    out = val.post(f"/volunteer/conversations/{cid}/opt-out", data={"csrf_token": token},
                   headers={"HX-Request": "true"})  # fmt: skip
    assert out.status_code == 200 and "opted out" in out.text
    with sessions() as session:
        event = session.scalar(select(OptOutEvent))
        assert event.source == "volunteer" and "val@example.org" in event.text
        assert session.get(Conversation, cid).status == "closed"
        assert session.scalar(select(Member.opted_out_at).where(Member.phone == PHONES[0]))


def test_a_refused_reply_is_a_400_naming_the_problem_with_the_thread_to_show(
    console, sessions, manager
):
    _, _, val, token, cid = _texted_and_replied(console, sessions, manager)
    page = val.get(f"/volunteer/conversations/{cid}").text
    assert "required data-message" in page  # the browser refuses an empty box itself
    empty = val.post(
        f"/volunteer/conversations/{cid}/reply",
        headers={"HX-Request": "true"},
        data={"csrf_token": token, "key": "k-" + "2" * 20, "message": "  "},
    )
    assert empty.status_code == 400 and 'role="alert"' in empty.text
    assert "Message is empty" in empty.text
    # The page swaps the refusal's thread in (htmx 2 swaps no 4xx by itself).
    assert empty.headers["X-Textbank-Fragment"] == "thread"
    with session_scope(sessions) as session:
        session.scalar(select(Member).where(Member.phone == PHONES[0])).opted_out_at = utcnow()
    refused = val.post(
        f"/volunteer/conversations/{cid}/reply",
        headers={"HX-Request": "true"},
        data={"csrf_token": token, "key": "k-" + "3" * 20, "message": "Hi"},
    )
    assert refused.status_code == 400 and "Ana opted out: no more texts" in refused.text
    assert ">Reply</button>" not in refused.text


def test_closed_or_opted_out_conversations_offer_and_take_no_survey_or_outcome(
    console, sessions, manager
):
    _, _, val, token, cid = _texted_and_replied(console, sessions, manager)
    thread = f"/volunteer/conversations/{cid}"
    page = val.get(thread).text
    assert ">Record outcome</button>" in page and "Are you coming?" in page
    with session_scope(sessions) as session:
        member = session.scalar(select(Member).where(Member.phone == PHONES[0]))
        member.opted_out_at = utcnow()
    page = val.get(thread).text
    assert ">Record outcome</button>" not in page and "Are you coming?" not in page
    htmx = {"HX-Request": "true"}
    refused = val.post(f"{thread}/outcome", headers=htmx,
                       data={"csrf_token": token, "outcome": "attending"})  # fmt: skip
    assert refused.status_code == 400 and "this member opted out" in refused.text
    with session_scope(sessions) as session:
        session.scalar(select(Member).where(Member.phone == PHONES[0])).opted_out_at = None
    assert val.post(f"{thread}/close", headers=htmx, data={"csrf_token": token}).status_code == 200
    page = val.get(thread).text
    assert ">Record outcome</button>" not in page and "Are you coming?" not in page
    for action, data in (("outcome", {"outcome": "attending"}), ("survey", {"answer": "0"})):
        refused = val.post(f"{thread}/{action}", headers=htmx, data={"csrf_token": token, **data})
        assert refused.status_code == 400 and "this conversation is closed" in refused.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outcome)) == 0


def test_after_skip_the_focus_goes_to_the_next_conversation_waiting(console, sessions, manager):
    _, vid, val, token, cid = _texted_and_replied(console, sessions, manager)
    settings = console.extensions["textbank.settings"]
    signed_post(console.test_client(), settings, "/twilio/sms", inbound(PHONES[1], "Hola?"))
    act_on_replies(settings)
    with session_scope(sessions) as session:
        for c in session.scalars(select(Conversation)):
            c.volunteer_id = vid
    htmx = {"HX-Request": "true"}
    key = "k-" + "4" * 20
    replied = val.post(f"/volunteer/conversations/{cid}/reply", headers=htmx,
                       data={"csrf_token": token, "key": key, "message": "Hi"})  # fmt: skip
    assert "required data-message data-focus-after-swap" in replied.text
    skipped = val.post(f"/volunteer/conversations/{cid}/close", headers=htmx,
                       data={"csrf_token": token}).text  # fmt: skip
    with sessions() as session:
        other = session.scalar(select(Conversation.id).where(Conversation.id != cid))
    import re

    link = re.search(r'<a href="([^"]+)" data-focus-after-swap[^>]*>([^<]+)</a>', skipped)
    assert link and link.group(1) == f"/volunteer/conversations/{other}"
    assert link.group(2) == "Next: Luis is waiting for an answer"
    assert skipped.count("data-focus-after-swap") == 1  # the link, not the notice


def test_canned_responses_and_survey_lines_name_the_local_as_the_first_text_does(
    console, sessions, manager
):
    canned = [{"title": "Who", "text": "We are {local}, {first_name}."}]
    survey = {"question": "Coming?", "answers": [
        {"label": "Yes", "outcome": "attending", "next": "See you, {local}!"}]}  # fmt: skip
    campaign = {**P2P_CAMPAIGN, "canned_responses": canned, "survey": survey}
    _, _, val, token, cid = _texted_and_replied(console, sessions, manager, campaign=campaign)
    page = val.get(f"/volunteer/conversations/{cid}").text
    assert "Hi Ana, this is Local 1199." in page  # the first text, as sent
    assert 'data-canned="We are Local 1199, Ana."' in page
    answered = val.post(f"/volunteer/conversations/{cid}/survey", headers={"HX-Request": "true"},
                        data={"csrf_token": token, "answer": "0"})  # fmt: skip
    assert "See you, Local 1199!</textarea>" in answered.text


def test_a_volunteer_cannot_open_another_volunteers_conversation(console, sessions, manager):
    _, _, val, token, cid = _texted_and_replied(console, sessions, manager)
    assert val.get(f"/volunteer/conversations/{cid}").status_code == 200  # in the pool: theirs
    val.post(
        f"/volunteer/conversations/{cid}/reply",
        data={"csrf_token": token, "key": "k" * 20, "message": "Hi"},
    )
    volunteer(sessions, "other@example.org")
    other = _client(console, "other@example.org")
    other_token = csrf(other.get("/volunteer").text)
    assert other.get(f"/volunteer/conversations/{cid}").status_code == 404
    for action in ("reply", "outcome", "opt-out", "close"):
        response = other.post(
            f"/volunteer/conversations/{cid}/{action}",
            data={"csrf_token": other_token, "message": "x", "key": "z" * 20},
        )
        assert response.status_code == 404
    assert f"/volunteer/conversations/{cid}" not in other.get("/volunteer/inbox").text
    # A manager sees it, in the same console.
    boss = _client(console, "manager@example.org")
    assert boss.get(f"/volunteer/conversations/{cid}").status_code == 200


def test_stale_conversations_and_abandoned_batches_are_reclaimed(console, sessions, manager):
    from datetime import timedelta

    campaign_id, vid, val, _token, cid = _texted_and_replied(console, sessions, manager)
    val.get(f"/volunteer/conversations/{cid}")
    with session_scope(sessions) as session:
        c = session.get(Conversation, cid)
        c.volunteer_id = vid
        campaign = session.get(Campaign, campaign_id)
        assert campaign.reclaim_minutes == 60
    later = utcnow() + timedelta(minutes=61)
    with session_scope(sessions) as session:
        done = reclaim_stale(session, later, online={vid})
    assert done.conversations == [cid]
    with sessions() as session:
        assert session.get(Conversation, cid).volunteer_id is None


def test_volunteers_may_not_use_the_api_or_supervisor(console, sessions, manager):
    volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    assert val.get("/supervisor").status_code == 403
    boss = _client(console, "manager@example.org")
    page = boss.get("/supervisor")
    assert page.status_code == 200 and "Batches out" in page.text


def test_anonymous_visitors_are_sent_to_sign_in(console):
    client = console.test_client()
    for path in ("/volunteer", "/volunteer/inbox", "/volunteer/conversations/1",
                 "/volunteer/events", "/supervisor"):  # fmt: skip
        assert client.get(path).status_code == 302


def test_volunteers_set_their_languages_and_large_type(console, sessions):
    vid = volunteer(sessions, "val@example.org")
    val = _client(console, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    bad = val.post("/volunteer/settings", data={"csrf_token": token, "languages": "en, xx-yy-zz!"})
    assert bad.status_code == 400 and "Languages you can text in" in bad.text
    saved = val.post(
        "/volunteer/settings",
        follow_redirects=True,
        data={"csrf_token": token, "languages": "Spanish, en", "large_type": "on"},
    )
    # On the root: what is sized in rem (headings, hints) grows too.
    assert saved.status_code == 200 and '<html lang="en" class="large-type">' in saved.text
    with sessions() as session:
        user = session.get(User, vid)
        assert (user.languages, user.large_type) == (["es", "en"], True)


def _to(sandbox, phone: str) -> list[str]:
    """Every text the carrier carried to this phone through the REST API, oldest first."""
    return [m.body for m in sandbox.state.all_messages()
            if m.to == phone and m.direction == "outbound-api"]  # fmt: skip


def test_an_opt_out_by_a_volunteer_is_confirmed_once_in_the_members_language(live, auth):
    from blast_helpers import run_queue

    from textbank.replies.confirmations import DEFAULTS, fill

    campaign_id = launch_p2p(live.client, live.sessions, auth, {**P2P_CAMPAIGN, "batch_size": 6})
    volunteer(live.sessions, "val@example.org", languages=("en", "es"))
    val = _client(live.app, "val@example.org")
    token = csrf(val.get("/volunteer").text)
    val.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    for _ in range(6):  # Val texts all of Local 1199, Ana and Luis (Spanish) among them
        row = _row_of_card(val.get(f"/volunteer/campaigns/{campaign_id}").text)
        val.post(f"/volunteer/campaigns/{campaign_id}/send", data={"csrf_token": token, "row": row})
    run_queue(live.settings)
    ana, luis = PHONES[0], PHONES[1]
    for phone, body in ((ana, "who is this?"), (luis, "¿quién es?")):
        answer = signed_post(live.client, live.settings, "/twilio/sms", inbound(phone, body))
        assert answer.status_code == 200
    act_on_replies(live.settings)  # the worker opens their conversations
    # Ana then texts STOP herself, and gets STOP's answer at once (TwiML).
    stop = signed_post(live.client, live.settings, "/twilio/sms", inbound(ana, "STOP"))
    assert "You are unsubscribed" in stop.text
    with live.sessions() as session:
        conversations = dict(session.execute(
            select(Member.phone, Conversation.id).join(Member, Member.id == Conversation.member_id)
        ).all())  # fmt: skip
    # Everyone is texted: the campaign is completed, and sends no more of its own texts.
    with live.sessions() as session:
        assert session.get(Campaign, campaign_id).status == "completed"

    for phone in (luis, ana):
        for _ in range(2):  # a double click
            out = val.post(f"/volunteer/conversations/{conversations[phone]}/opt-out",
                           data={"csrf_token": token}, headers={"HX-Request": "true"})  # fmt: skip
            assert out.status_code == 200
    run_queue(live.settings)

    spanish = fill(DEFAULTS["opt_out"]["es"], live.settings.org_name)
    assert _to(live.sandbox, luis)[1:] == [spanish]  # after the first text: STOP's answer, once
    assert len(_to(live.sandbox, ana)) == 1  # she had her answer to STOP: nothing more
    with live.sessions() as session:
        confirmations = session.execute(
            select(OutboundMessage.phone, OutboundMessage.status)
            .where(OutboundMessage.compliance.is_(True))
        ).all()  # fmt: skip
        assert [phone for phone, _ in confirmations] == [luis]
        assert confirmations[0].status in ("sent", "delivered")  # its callback may be on its way
    thread = val.get(f"/volunteer/conversations/{conversations[luis]}").text
    assert "Se dio de baja" in thread  # the volunteer sees what the member was told
    # Both opted out in answer to the campaign: Ana by STOP, Luis by asking the volunteer.
    report = live.client.get(f"/api/v1/reports/engagement?by=campaign&campaign={campaign_id}",
                             headers=auth).get_json()  # fmt: skip
    assert report["rows"][0]["opted_out"] == 2
    stats = live.client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=auth).get_json()
    assert stats["opted_out"] == 2


def test_the_supervisors_pickers_list_people_who_can_text_volunteers_first(console, sessions,
                                                                           manager):  # fmt: skip
    import re

    volunteer(sessions, "val@example.org")
    gone = volunteer(sessions, "gone@example.org")
    volunteer(sessions, "admin@example.org", role="admin")
    with session_scope(sessions) as session:
        session.get(User, gone).active = False
    page = _client(console, "manager@example.org").get("/supervisor").text
    picker = re.search(r'<select id="reassign-to".*?</select>', page, re.S).group(0)
    groups = dict(re.findall(r'<optgroup label="(\w+)">(.*?)</optgroup>', picker, re.S))
    assert re.findall(r">([^<]+)</option>", groups["Volunteers"]) == ["val@example.org"]
    assert re.findall(r">([^<]+)</option>", groups["Managers"]) == [
        "admin@example.org", "manager@example.org"]  # fmt: skip
    assert "gone@example.org" not in page  # a disabled account holds nothing and gets nothing


def test_signing_in_holds_no_database_connection_while_the_password_is_hashed(
    console, sessions, monkeypatch
):
    """A shift's crowd signs in at once; each hash is slow on purpose and must not keep a
    pooled connection from the requests around it."""
    from textbank import accounts
    from textbank.accounts import check_password_hash as real_check

    engine = console.extensions["textbank.engine"]
    held: list[int] = []

    def watched(pwhash: str, password: str) -> bool:
        held.append(engine.pool.checkedout())
        return real_check(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", watched)
    volunteer(sessions, "val@example.org")
    client = console.test_client()
    sign_in(client, "val@example.org")
    assert held == [0]
    assert client.get("/volunteer").status_code == 200  # signed in
