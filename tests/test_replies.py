"""POST /twilio/sms: signed replies become opt-outs, outcomes and conversations, exactly once.

The webhook stores a reply and answers Twilio at once; STOP, START, HELP and STATS are acted on
and answered right there, in TwiML; the worker acts on every other reply, and a keyword's
thanks goes out through the send pipeline.
"""

from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from blast_helpers import act_on_replies, inbound, run_queue, seed, signed_post, texts_by_phone
from sqlalchemy import func, select

from textbank import create_app, enqueue
from textbank.db import session_scope
from textbank.models import (
    Campaign,
    Contact,
    Conversation,
    InboundMessage,
    Member,
    OptOutEvent,
    OutboundMessage,
    Outcome,
    utcnow,
)
from textbank.replies.handling import unprocessed
from textbank.twilio.codes import MessageStatus
from textbank.web import database

ANA, LUIS, ROSA, KIM = "+16175550101", "+16175550102", "+16175550103", "+16175550104"
CAMPAIGN = {
    "name": "GOTV", "kind": "gotv", "message": "Hi {first_name}, reply YES to pledge to vote.",
    "translations": {"es": "Hola {first_name}, responde SÍ.", "pt": "Oi {first_name}, SIM?"},
    "audience": {"locals": ["1199"]},
    "keywords": {"YES": "pledged_to_vote", "VOLUNTEER": "volunteer"},
    "replies": {"pledged_to_vote": {"en": "Thank you {first_name}!", "es": "¡Gracias {first_name}!",
                                    "pt": "Obrigado!"},
                "volunteer": "A captain will call you."},
}  # fmt: skip


def _texted(sessions, settings, client, auth):
    """Seed members, launch a campaign and mark its texts sent, as a blast would leave them."""
    seed(sessions, [("Ana", ANA, "1199", "es"), ("Luis", LUIS, "1199", "en"),
                    ("Rosa", ROSA, "1199", "pt"), ("Kim", KIM, "1199", "en")])  # fmt: skip
    response = client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth)
    campaign_id = response.get_json()["id"]
    with session_scope(sessions) as session:
        campaign = session.get(Campaign, campaign_id)
        campaign.status = "sending"
        for i, member in enumerate(session.scalars(select(Member))):
            session.add(OutboundMessage(campaign_id=campaign_id, member_id=member.id,
                                        phone=member.phone, body="hi", language=member.language,
                                        status=MessageStatus.DELIVERED,
                                        twilio_sid=f"SM{i:032d}"))  # fmt: skip
    return campaign_id


def _reply(client, settings, phone, body, **extra):
    response = signed_post(client, settings, "/twilio/sms", inbound(phone, body, **extra))
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/xml"
    return response.get_data(as_text=True)


def _thanks(sessions) -> list[tuple[str, str, str]]:
    """Texts queued to answer replies: (phone, body, status)."""
    with session_scope(sessions) as session:
        rows = session.execute(
            select(OutboundMessage.phone, OutboundMessage.body, OutboundMessage.status)
            .where(OutboundMessage.inbound_message_id.is_not(None))
            .order_by(OutboundMessage.id)
        )
        return [tuple(row) for row in rows]


def _message_text(twiml: str) -> str | None:
    import re

    match = re.search(r"<Message>(.*?)</Message>", twiml, re.S)
    return match.group(1) if match else None


def _member(sessions, phone):
    with session_scope(sessions) as session:
        return session.scalar(select(Member).where(Member.phone == phone))


@pytest.mark.parametrize("body", ["STOP", "Stop.", "stop!!", "  Unsubscribe ", "QUIT",
                                  "optout", "Stop texting me please"])  # fmt: skip
def test_opt_out_words_and_phrases(client, settings, sessions, auth, body):
    _texted(sessions, settings, client, auth)
    reply = _message_text(_reply(client, settings, LUIS, body))
    assert reply == ("You are unsubscribed from textbank texts and will get no more. "
                     "Reply START to re-join.")  # fmt: skip
    member = _member(sessions, LUIS)
    assert member.opted_out and member.opt_out_source == "sms_keyword"
    # One confirmation: a second STOP is recorded but not answered.
    assert _message_text(_reply(client, settings, LUIS, "STOP")) is None
    with session_scope(sessions) as session:
        events = session.scalars(select(OptOutEvent.kind).where(OptOutEvent.phone == LUIS)).all()
    assert events == ["opt_out", "opt_out"]


def test_no_confirmation_when_twilio_handled_the_opt_out(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    assert _message_text(_reply(client, settings, LUIS, "STOP", OptOutType="STOP")) is None
    assert _member(sessions, LUIS).opted_out


def test_start_resubscribes_and_help_always_answers(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    _reply(client, settings, LUIS, "stop")
    help_text = _message_text(_reply(client, settings, LUIS, "help"))
    assert "textbank" in help_text and "STOP" in help_text
    assert "re-subscribed" in _message_text(_reply(client, settings, LUIS, "Start"))
    assert not _member(sessions, LUIS).opted_out
    assert _message_text(_reply(client, settings, LUIS, "INFO")) == help_text


@pytest.mark.parametrize(
    ("phone", "body", "reply"),
    [(LUIS, "yes!", "Thank you Luis!"), (LUIS, "Yes I will", "Thank you Luis!"),
     (ANA, "Sí", "¡Gracias Ana!"), (ANA, "si!!", "¡Gracias Ana!"), (ROSA, "Sim", "Obrigado!")],
)  # fmt: skip
def test_keywords_in_any_case_and_language(client, settings, sessions, auth, phone, body, reply):
    campaign_id = _texted(sessions, settings, client, auth)
    # Twilio is answered at once, with nothing; the worker queues the thanks as a text.
    assert _message_text(_reply(client, settings, phone, body)) is None
    act_on_replies(settings)
    assert _thanks(sessions) == [(phone, reply, "pending")]
    # The same keyword again records nothing new and is not answered twice.
    assert _message_text(_reply(client, settings, phone, body)) is None
    act_on_replies(settings)
    assert _thanks(sessions) == [(phone, reply, "pending")]
    with session_scope(sessions) as session:
        outcomes = session.execute(select(Outcome.name, Outcome.campaign_id, Outcome.source)).all()
    assert [tuple(o) for o in outcomes] == [("pledged_to_vote", campaign_id, "sms_keyword")]
    stats = client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=auth).get_json()
    assert (stats["replied"], stats["actions"], stats["volunteers"]) == (
        1,
        {"pledged_to_vote": 1},
        0,
    )


def test_volunteer_sign_up_counts_as_volunteer(client, settings, sessions, auth):
    campaign_id = _texted(sessions, settings, client, auth)
    _reply(client, settings, KIM, "volunteer")
    act_on_replies(settings)
    assert _thanks(sessions) == [(KIM, "A captain will call you.", "pending")]
    stats = client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=auth).get_json()
    assert (stats["volunteers"], stats["actions"]) == (1, {})


def test_anything_else_waits_for_a_human(client, settings, sessions, auth):
    campaign_id = _texted(sessions, settings, client, auth)
    assert _message_text(_reply(client, settings, LUIS, "Where do I vote?")) is None
    assert _message_text(_reply(client, settings, LUIS, "And what time?")) is None
    act_on_replies(settings)
    with session_scope(sessions) as session:
        conversations = session.scalars(select(Conversation)).all()
        assert [(c.campaign_id, c.status) for c in conversations] == [(campaign_id, "open")]
        classes = session.scalars(select(InboundMessage.classification)).all()
    assert classes == ["conversation", "conversation"]


def test_replayed_message_is_stored_and_answered_once(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    params = inbound(LUIS, "YES")
    first = signed_post(client, settings, "/twilio/sms", params)
    again = signed_post(client, settings, "/twilio/sms", params)
    assert first.status_code == again.status_code == 200
    act_on_replies(settings)
    assert _thanks(sessions) == [(LUIS, "Thank you Luis!", "pending")]
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert session.scalar(select(func.count()).select_from(Outcome)) == 1


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_forged_or_unsigned_replies_are_refused(client, settings, sessions, auth, signature):
    _texted(sessions, settings, client, auth)
    response = signed_post(client, settings, "/twilio/sms", inbound(LUIS, "STOP"), signature)
    assert response.status_code == 403
    assert not _member(sessions, LUIS).opted_out
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_tampered_body_fails_the_signature(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    params = inbound(LUIS, "YES")
    from twilio.request_validator import RequestValidator

    good = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + "/twilio/sms", params)  # fmt: skip
    response = client.post("/twilio/sms", data={**params, "Body": "STOP"},
                           headers={"X-Twilio-Signature": good})  # fmt: skip
    assert response.status_code == 403


def test_signature_checked_against_public_url_behind_a_tls_proxy(settings, redis_client):
    """Twilio signs https://public/...; the proxy hands the app http://127.0.0.1:8000/..."""
    app = create_app(replace(settings, public_base_url="https://textbank.example.org"))
    client = app.test_client()
    params = inbound("+16175550199", "HELP")
    response = signed_post(client, replace(settings, public_base_url="https://textbank.example.org"),
                           "/twilio/sms", params)  # fmt: skip
    assert response.status_code == 200
    signed_for_internal = signed_post(client, settings, "/twilio/sms", inbound(LUIS, "HELP"))
    assert signed_for_internal.status_code == 403
    database.dispose(app)


def test_stranger_is_a_contact_and_their_stop_sticks(client, settings, sessions, auth):
    stranger = "+16175550188"
    assert _message_text(_reply(client, settings, stranger, "who is this?")) is None
    assert "unsubscribed" in _message_text(_reply(client, settings, stranger, "STOP"))
    with session_scope(sessions) as session:
        assert session.scalar(select(Contact.phone)) == stranger
    # Importing them later as a member does not re-subscribe them.
    seed(sessions, [("New", stranger, "1199", "en")])
    assert _member(sessions, stranger).opted_out


def test_stop_mid_blast_ends_every_further_text(live, auth):
    seed(live.sessions, [("Ana", ANA, "1199", "en"), ("Luis", LUIS, "1199", "en")])
    campaign_id = live.client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth).get_json()[
        "id"
    ]
    live.client.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=auth)
    # Luis's STOP arrives (through the carrier, signed) after launch, before his turn.
    live.sandbox.configure(sms_url=f"{live.url}/twilio/sms")
    import requests

    answer = requests.post(f"{live.sandbox.url}/sandbox/reply",
                           json={"from": LUIS, "body": "Stop."}, timeout=10).json()  # fmt: skip
    assert answer["status"] == 200
    run_queue(live.settings)
    texts = texts_by_phone(live.sandbox)
    assert list(texts) == [ANA]
    # A second campaign later skips him at launch.
    second = live.client.post("/api/v1/campaigns", json={**CAMPAIGN, "name": "again"}, headers=auth)
    second_id = second.get_json()["id"]
    launched = live.client.post(f"/api/v1/campaigns/{second_id}/launch", headers=auth)
    assert launched.status_code == 202
    run_queue(live.settings)
    stats = live.client.get(f"/api/v1/campaigns/{second_id}/stats", headers=auth).get_json()
    assert stats["skipped"]["opted_out"] == 1
    assert list(texts_by_phone(live.sandbox)) == [ANA]


def test_reply_stored_but_never_queued_is_acted_on_after_the_sweep(
    client, settings, sessions, auth, monkeypatch, redis_client
):
    """The web process dies (or Redis is away) between storing a reply and queueing it."""
    _texted(sessions, settings, client, auth)

    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("redis unreachable")

    monkeypatch.setattr("textbank.enqueue.replies", redis_down)
    response = signed_post(client, settings, "/twilio/sms", inbound(LUIS, "YES"))
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    monkeypatch.undo()
    act_on_replies(settings)  # nothing was queued
    with session_scope(sessions) as session:
        stored = session.scalar(select(InboundMessage))
        assert (stored.body, stored.processed_at) == ("YES", None)

    # The sweep's pass: a minute later the stored reply is queued again, once.
    later = utcnow() + timedelta(minutes=1)
    assert enqueue.lost_replies(redis_client, unprocessed(sessions, later)) == 1
    assert enqueue.lost_replies(redis_client, unprocessed(sessions, later)) == 0  # queued
    act_on_replies(settings)
    with session_scope(sessions) as session:
        assert session.scalar(select(InboundMessage.classification)) == "keyword"
        assert session.scalar(select(Outcome.name)) == "pledged_to_vote"
    assert _thanks(sessions) == [(LUIS, "Thank you Luis!", "pending")]
    assert unprocessed(sessions, later) == []


def test_a_burst_is_acted_on_once_and_the_next_reply_still_finds_a_worker(
    client, settings, sessions, auth, redis_client
):
    _texted(sessions, settings, client, auth)
    phones = [ANA, LUIS, ROSA, KIM]
    for i in range(45):  # more than one drainer's batch
        _reply(client, settings, phones[i % 4], f"question {i}?")
    act_on_replies(settings)
    # Nothing waits, and no drainer is marked at work: the next reply queues one.
    assert redis_client.llen(enqueue.REPLY_IDS) == 0
    assert not redis_client.exists(enqueue.REPLY_DRAINING)
    _reply(client, settings, LUIS, "one more?")
    act_on_replies(settings)
    with session_scope(sessions) as session:
        done = session.scalar(select(func.count()).where(InboundMessage.processed_at.is_not(None)))
        assert done == 46
        assert session.scalar(select(func.count()).select_from(Conversation)) == 4


def test_reply_whose_job_failed_is_acted_on_again(
    client, settings, sessions, auth, monkeypatch, redis_client
):
    _texted(sessions, settings, client, auth)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("textbank.replies.answers.process_inbound", broken)
    _reply(client, settings, LUIS, "Where do I vote?")
    act_on_replies(settings)
    monkeypatch.undo()
    later = utcnow() + timedelta(minutes=1)
    assert enqueue.lost_replies(redis_client, unprocessed(sessions, later)) == 1
    act_on_replies(settings)
    with session_scope(sessions) as session:
        assert session.scalar(select(InboundMessage.classification)) == "conversation"
        assert session.scalar(select(func.count()).select_from(Conversation)) == 1


def test_nul_byte_in_a_signed_reply_is_stored_and_answered(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    assert _message_text(_reply(client, settings, LUIS, "Where\x00 do I vote?")) is None
    assert _message_text(_reply(client, settings, ROSA, "STOP\x00")).startswith("Você cancelou")
    act_on_replies(settings)
    with session_scope(sessions) as session:
        rows = session.execute(select(InboundMessage.body, InboundMessage.classification)
                               .order_by(InboundMessage.id)).all()  # fmt: skip
    # Kept without the NUL byte (dropped, or U+FFFD in its place), and acted on.
    kept = [(body.replace("\ufffd", ""), kind) for body, kind in rows]
    assert kept == [("Where do I vote?", "conversation"), ("STOP", "opt_out")]


def test_stop_and_help_answered_at_once_in_the_members_language(client, settings, sessions, auth):
    _texted(sessions, settings, client, auth)
    stop = _message_text(_reply(client, settings, ANA, "stop"))
    assert stop.startswith("Se dio de baja de los mensajes de textbank")
    assert _member(sessions, ANA).opted_out  # before any worker ran: the next send skips her
    assert _message_text(_reply(client, settings, ANA, "STOP")) is None  # one confirmation
    assert _message_text(_reply(client, settings, ANA, "Help")).startswith(
        "textbank: mensajes de su sindicato"
    )
    act_on_replies(settings)
    assert _thanks(sessions) == []


def test_keyword_thanks_sent_once_through_the_pipeline(live, auth):
    seed(live.sessions, [("Ana", ANA, "1199", "es"), ("Luis", LUIS, "1199", "en")])
    campaign_id = live.client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth).get_json()[
        "id"
    ]
    live.client.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=auth)
    run_queue(live.settings)
    import requests

    for body in ("Sí", "si!!"):
        answer = requests.post(f"{live.sandbox.url}/sandbox/reply",
                               json={"from": ANA, "body": body}, timeout=10).json()  # fmt: skip
        assert answer["status"] == 200
        run_queue(live.settings)
    texts = texts_by_phone(live.sandbox)
    assert texts[ANA] == ["Hola Ana, responde SÍ.", "¡Gracias Ana!"]
    assert texts[LUIS] == ["Hi Luis, reply YES to pledge to vote."]
    stats = live.client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=auth).get_json()
    # The thanks is no text of the campaign's audience.
    assert (stats["audience"], stats["sent"], stats["actions"]) == (2, 2, {"pledged_to_vote": 1})


def test_a_completed_campaign_answers_keywords_and_stays_completed(live, auth):
    """Its thanks goes out without the campaign going back to sending; while a campaign is
    paused its thanks waits (a pause stops every text of the campaign but opt-outs' and
    HELP's answers) and goes out once it is resumed."""
    seed(live.sessions, [("Ana", ANA, "1199", "es"), ("Luis", LUIS, "1199", "en")])
    campaign_id = live.client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth).get_json()[
        "id"
    ]
    live.client.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=auth)
    run_queue(live.settings)

    def status() -> str:
        with session_scope(live.sessions) as session:
            return session.get(Campaign, campaign_id).status

    assert status() == "completed"
    signed_post(live.client, live.settings, "/twilio/sms", inbound(ANA, "Sí"))
    act_on_replies(live.settings)
    assert _thanks(live.sessions) == [(ANA, "¡Gracias Ana!", "pending")]
    assert status() == "completed"  # not back to sending for it
    run_queue(live.settings)
    assert texts_by_phone(live.sandbox)[ANA][-1] == "¡Gracias Ana!"
    assert status() == "completed"
    with session_scope(live.sessions) as session:
        session.get(Campaign, campaign_id).status = "paused"
    signed_post(live.client, live.settings, "/twilio/sms", inbound(LUIS, "yes"))
    run_queue(live.settings)
    assert texts_by_phone(live.sandbox)[LUIS] == ["Hi Luis, reply YES to pledge to vote."]
    assert _thanks(live.sessions)[-1] == (LUIS, "Thank you Luis!", "pending")
    assert live.client.post(f"/api/v1/campaigns/{campaign_id}/resume",
                            headers=auth).status_code == 200  # fmt: skip
    run_queue(live.settings)
    assert texts_by_phone(live.sandbox)[LUIS][-1] == "Thank you Luis!"


def test_stop_failing_midway_leaves_nothing_half_written(client, settings, sessions, auth,
                                                         monkeypatch, redis_client):  # fmt: skip
    """The opt-out's several writes land together or not at all, then once on the retry."""
    from textbank.models import Suppression

    _texted(sessions, settings, client, auth)

    def redis_down(*args, **kwargs):  # after the suppression and ledger rows were written
        raise ConnectionError("redis unreachable")

    monkeypatch.setattr("textbank.compliance.optouts.remember_recent", redis_down)
    assert _message_text(_reply(client, settings, LUIS, "STOP")) is None
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert session.scalar(select(func.count()).select_from(OptOutEvent)) == 0
        assert session.scalar(select(Member.opted_out_at).where(Member.phone == LUIS)) is None
        stored = session.scalar(select(InboundMessage))
        assert (stored.processed_at, stored.error) == (None, "ConnectionError: redis unreachable")

    monkeypatch.undo()
    later = utcnow() + timedelta(minutes=1)
    assert enqueue.lost_replies(redis_client, unprocessed(sessions, later)) == 1
    act_on_replies(settings)
    with session_scope(sessions) as session:
        assert session.scalars(select(Suppression.phone)).all() == [LUIS]
        assert session.scalar(select(func.count()).select_from(OptOutEvent)) == 1
        assert session.scalar(select(InboundMessage.classification)) == "opt_out"
    assert redis_client.zscore("textbank:optouts:recent", LUIS) is not None
    # Twilio was answered without the confirmation: it goes now, once, through the pipeline
    # (a compliance text: the one the opt-out list lets through).
    confirmation = ("You are unsubscribed from textbank texts and will get no more. "
                    "Reply START to re-join.")  # fmt: skip
    assert _thanks(sessions) == [(LUIS, confirmation, "pending")]
    with session_scope(sessions) as session:
        assert session.scalar(select(OutboundMessage.compliance).where(
            OutboundMessage.inbound_message_id.is_not(None))) is True  # fmt: skip
    assert enqueue.lost_replies(redis_client, unprocessed(sessions, later)) == 0
    act_on_replies(settings)
    assert len(_thanks(sessions)) == 1


def test_help_acted_on_late_is_answered_in_the_members_language(
    client, settings, sessions, auth, monkeypatch, redis_client
):
    _texted(sessions, settings, client, auth)

    def fails(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr("textbank.replies.handling.rs.finish", fails)
    assert _message_text(_reply(client, settings, ANA, "Help")) is None
    monkeypatch.undo()
    enqueue.lost_replies(redis_client, unprocessed(sessions, utcnow() + timedelta(minutes=1)))
    act_on_replies(settings)
    [(phone, body, status)] = _thanks(sessions)
    assert (phone, status) == (ANA, "pending") and body.startswith("textbank: mensajes de su")
