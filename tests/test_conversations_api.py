"""GET /api/v1/conversations and /api/v1/conversations/ID: blast and P2P conversations alike."""

from __future__ import annotations

import pytest
from blast_helpers import act_on_replies, inbound, seed, signed_post
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Campaign, Member, OutboundMessage
from textbank.twilio.codes import MessageStatus

PHONES = ["+16175550101", "+16175550102", "+16175550103"]
BLAST = {"name": "GOTV", "kind": "gotv", "message": "Hi {first_name}, reply YES.",
         "audience": {"locals": ["1199"]}, "keywords": {"YES": "pledged_to_vote"}}  # fmt: skip


@pytest.fixture
def replied(client, sessions, settings, auth):
    """A blast texted three members of Local 1199; two asked questions, one said YES."""
    seed(sessions, [("Ana", "617-555-0101", "1199", "es"), ("Luis", "617-555-0102", "1199", "en"),
                    ("Rosa", "617-555-0103", "1199", "en")])  # fmt: skip
    campaign_id = client.post("/api/v1/campaigns", json=BLAST, headers=auth).get_json()["id"]
    with session_scope(sessions) as session:
        session.get(Campaign, campaign_id).status = "completed"
        for i, m in enumerate(session.scalars(select(Member).order_by(Member.id))):
            session.add(OutboundMessage(campaign_id=campaign_id, member_id=m.id, phone=m.phone,
                                        body="Hi", language=m.language, twilio_sid=f"SM{i:032d}",
                                        status=MessageStatus.DELIVERED))  # fmt: skip
    for phone, body in [(PHONES[0], "¿Dónde voto?"), (PHONES[1], "What time?"), (PHONES[2], "YES"),
                        (PHONES[1], "And where?")]:  # fmt: skip
        assert signed_post(client, settings, "/twilio/sms", inbound(phone, body)).status_code == 200
    act_on_replies(settings)
    return campaign_id


def test_every_open_conversation_is_listed_with_filters_and_a_cursor(client, auth, replied):
    body = client.get("/api/v1/conversations", headers=auth).get_json()
    assert [c["first_name"] for c in body["conversations"]] == ["Luis", "Ana"]
    assert body["next"] is None
    luis = body["conversations"][0]
    assert luis["last_text"] == "And where?" and luis["waiting"] and luis["campaign"] == "GOTV"
    assert "phone" not in luis
    page = client.get("/api/v1/conversations?limit=1", headers=auth).get_json()
    assert len(page["conversations"]) == 1 and page["next"] == luis["id"]
    rest = client.get(f"/api/v1/conversations?limit=1&after={page['next']}", headers=auth)
    assert [c["first_name"] for c in rest.get_json()["conversations"]] == ["Ana"]
    spanish = client.get("/api/v1/conversations?language=es", headers=auth).get_json()
    assert [c["first_name"] for c in spanish["conversations"]] == ["Ana"]
    for query, expected in [(f"campaign={replied}", 2), ("campaign=999", 0), ("local=1199", 2),
                            ("local=26", 0), ("status=waiting", 2), ("status=closed", 0),
                            ("assigned=none", 2), ("assigned=me", 0)]:  # fmt: skip
        found = client.get(f"/api/v1/conversations?{query}", headers=auth).get_json()
        assert len(found["conversations"]) == expected, query


def test_one_conversation_is_its_whole_thread(client, auth, replied):
    luis = client.get("/api/v1/conversations", headers=auth).get_json()["conversations"][0]
    thread = client.get(f"/api/v1/conversations/{luis['id']}", headers=auth).get_json()
    assert [(m["direction"], m["body"]) for m in thread["messages"]] == [
        ("out", "Hi"), ("in", "What time?"), ("in", "And where?")]  # fmt: skip
    assert thread["first_name"] == "Luis" and thread["local"] == "1199"
    assert "phone" not in thread
    assert client.get("/api/v1/conversations/999", headers=auth).status_code == 404


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("status=lost", "status"),
                                          ("campaign=x", "campaign"), ("assigned=him", "assigned"),
                                          ("language=klingon!", "language")])  # fmt: skip
def test_bad_filters_are_a_400_naming_them(client, auth, query, field):
    response = client.get(f"/api/v1/conversations?{query}", headers=auth)
    assert response.status_code == 400
    assert field in response.get_json()["error"]


def test_volunteers_tokens_and_strangers_are_refused(client, volunteer_token):
    assert client.get("/api/v1/conversations").status_code == 401
    refused = client.get("/api/v1/conversations",
                         headers={"Authorization": f"Bearer {volunteer_token}"})  # fmt: skip
    assert refused.status_code == 403
