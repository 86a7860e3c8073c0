"""Phone-bank and event results are what the outcomes API is for: both sources are accepted."""

from blast_helpers import seed
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import Member


def test_phone_bank_and_event_outcomes_are_recorded(client, sessions, auth):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    with session_scope(sessions) as session:
        member_id = session.scalar(select(Member.id))
    url = f"/api/v1/members/{member_id}/outcomes"
    for name, source in (("pledged_to_vote", "phone_bank"), ("attended_rally", "event")):
        answer = client.post(url, json={"name": name, "source": source}, headers=auth)
        assert answer.status_code == 201, answer.get_json()
    listed = client.get(url, headers=auth).get_json()["outcomes"]
    assert sorted((o["name"], o["source"]) for o in listed) == [
        ("attended_rally", "event"),
        ("pledged_to_vote", "phone_bank"),
    ]
