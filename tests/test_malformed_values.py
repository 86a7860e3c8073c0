"""Every malformed value is a 400 naming the field, never a 500 (issue 13 §5)."""

from __future__ import annotations

import pytest
from blast_helpers import inbound, seed, signed_post
from console_helpers import make_user, post, sign_in
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import InboundMessage, Member, Outcome

BIG = "99999999999999999999999"  # past 64 bits
CAMPAIGN = {"name": "GOTV", "kind": "gotv", "message": "Vote, {first_name}!", "audience": {}}


def _error(response) -> str:
    return response.get_json()["error"]


@pytest.fixture
def member_id(sessions) -> int:
    seed(sessions, [("Ana", "+16175550101", "1199", "en")])
    with session_scope(sessions) as session:
        return session.scalar(select(Member.id))


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/campaigns/2147483648", "campaign_id"),
    (f"/api/v1/campaigns/{BIG}/stats", "campaign_id"),
    ("/api/v1/members/9223372036854775808/outcomes", "member_id"),
    (f"/api/v1/conversations/{BIG}", "conversation_id"),
    (f"/api/v1/members?after={BIG}", "after"),
    (f"/api/v1/members?limit={BIG}", "limit"),
    (f"/api/v1/campaigns?after={BIG}", "after"),
    ("/api/v1/campaigns?limit=%C2%B2", "limit"),  # "²" passes str.isdigit()
    (f"/api/v1/conversations?after={BIG}", "after"),
    (f"/api/v1/conversations?campaign={BIG}", "campaign"),
    (f"/api/v1/conversations?assigned={BIG}", "assigned"),
    (f"/api/v1/reports/engagement?campaign={BIG}", "campaign"),
    ("/api/v1/reports/engagement?from=0000-01-01", "from"),
    ("/api/v1/reports/engagement?to=10000-01-01", "to"),
    ("/api/v1/reports/engagement?from=2026-02-30", "from"),
    ("/api/v1/reports/engagement?to=9999-12-31T23:00:00-05:00", "to"),
    ("/api/v1/reports/engagement?from=0001-01-01T00:00:00%2B05:00", "from"),
    ("/api/v1/opt-outs?since=9999-12-31T23:59:59-12:00", "since"),
    ("/api/v1/members?local=1199%00", "local"),
])  # fmt: skip
def test_integers_dates_and_nuls_in_paths_and_queries_are_400_naming_the_field(
    client, auth, path, field
):
    response = client.get(path, headers=auth)
    assert response.status_code == 400, response.data
    assert _error(response).startswith(field), _error(response)


def test_digest_ids_past_the_column_are_400(client, auth):
    response = client.delete("/api/v1/digests/2147483648", headers=auth)
    assert response.status_code == 400 and "schedule_id" in _error(response)


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "GO\x00TV"}, "name"),
    ({"message": "Vote\x00!"}, "message"),
    ({"translations": {"es": "Vota\x00"}}, "translations.es"),
])  # fmt: skip
def test_nul_in_a_new_campaign_is_400_naming_the_field(client, auth, member_id, change, field):
    response = client.post("/api/v1/campaigns", json={**CAMPAIGN, **change}, headers=auth)
    assert response.status_code == 400, response.data
    assert _error(response).startswith(field)


def test_goals_are_kept_on_a_new_campaign(client, auth, member_id):
    goals = {"conversation": 0.8, "action": 0.4, "activist": 0.05}
    created = client.post("/api/v1/campaigns", json={**CAMPAIGN, "goals": goals}, headers=auth)
    assert created.status_code == 201, created.data
    campaign_id = created.get_json()["id"]
    assert client.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).get_json()[
        "goals"] == goals  # fmt: skip
    bad = client.post("/api/v1/campaigns", json={**CAMPAIGN, "goals": {"action": True}},
                      headers=auth)  # fmt: skip
    assert bad.status_code == 400 and _error(bad).startswith("goals.action")


def test_true_is_not_campaign_1_and_a_nul_note_is_refused(client, auth, sessions, member_id):
    assert client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth).status_code == 201
    url = f"/api/v1/members/{member_id}/outcomes"
    as_true = client.post(url, json={"name": "attended", "campaign_id": True}, headers=auth)
    assert as_true.status_code == 400 and _error(as_true).startswith("campaign_id")
    huge = client.post(url, json={"name": "attended", "campaign_id": 2**63}, headers=auth)
    assert huge.status_code == 400 and _error(huge).startswith("campaign_id")
    nul = client.post(url, json={"name": "attended", "note": "a\x00b"}, headers=auth)
    assert nul.status_code == 400 and _error(nul).startswith("note")
    with session_scope(sessions) as session:
        assert session.scalars(select(Outcome)).all() == []


@pytest.mark.parametrize(("change", "field"), [
    ({"timezone": 123}, "timezone"),
    ({"timezone": ["America/New_York"]}, "timezone"),
    ({"hour": True}, "hour"),
])  # fmt: skip
def test_digest_values_of_the_wrong_type_are_400(client, auth, change, field):
    body = {"frequency": "daily", "hour": 9, "timezone": "America/New_York", **change}
    response = client.post("/api/v1/digests", json=body, headers=auth)
    assert response.status_code == 400, response.data
    assert field in _error(response)


def test_a_signed_reply_with_a_nul_is_stored_stripped_and_answered(client, settings, sessions):
    seed(sessions, [("Ana", "+16175550101", "1199", "en")])
    params = inbound("+16175550101", "I'll be\x00 there")
    response = signed_post(client, settings, "/twilio/sms", params)
    assert response.status_code == 200, response.data
    with session_scope(sessions) as session:
        assert session.scalars(select(InboundMessage.body)).all() == ["I'll be there"]
    # Twilio retrying the same message: answered, not stored twice.
    assert signed_post(client, settings, "/twilio/sms", params).status_code == 200
    with session_scope(sessions) as session:
        assert len(session.scalars(select(InboundMessage.id)).all()) == 1


def test_a_message_sid_longer_than_twilios_is_400_naming_it(client, settings):
    params = inbound("+16175550101", "hello", MessageSid="SM" + "a" * 40)
    response = signed_post(client, settings, "/twilio/sms", params)
    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)


@pytest.fixture
def manager(client, sessions):
    make_user(sessions, "boss@example.org", "manager")
    assert sign_in(client, "boss@example.org").status_code == 302


@pytest.mark.parametrize(("path", "field"), [
    (f"/dashboard?campaign={BIG}", "campaign"),
    ("/dashboard?from=2026-02-30", "from"),
    (f"/members?after={BIG}", "after"),
    (f"/opt-outs?before={BIG}", "before"),
    (f"/audit?before={BIG}", "before"),
    (f"/campaigns/{BIG}", "campaign_id"),
    (f"/members/{BIG}", "member_id"),
])  # fmt: skip
def test_console_pages_answer_400_naming_the_field(client, manager, path, field):
    response = client.get(path)
    assert response.status_code == 400, response.status_code
    assert field in response.get_data(as_text=True)


def test_a_nul_in_a_console_form_is_400_naming_the_field(client, manager, member_id):
    edit = post(client, f"/members/{member_id}/edit", {"first_name": "An\x00a"})
    assert edit.status_code == 400 and "first_name" in edit.get_data(as_text=True)
    rows = post(client, "/campaigns/preview", {"keyword_rows": "lots", "message": "Hi"},
                page="/campaigns/new")  # fmt: skip
    assert rows.status_code == 400 and "keyword_rows" in rows.get_data(as_text=True)
