"""Helpers for the volunteer console's tests: P2P campaigns, volunteers, signing in."""

from __future__ import annotations

import re

from blast_helpers import run_queue, seed
from sqlalchemy import select

from textbank.accounts import create_user
from textbank.db import session_scope
from textbank.models import OutboundMessage, User

PASSWORD = "a long and known password"
P2P_CAMPAIGN = {
    "name": "Rally <Saturday>",
    "kind": "volunteer",
    "mode": "p2p",
    "message": "Hi {first_name}, this is {local}. Can you come Saturday? Reply YES",
    "translations": {"es": "Hola {first_name}, somos {local}. ¿Vienes el sábado?"},
    "audience": {"locals": ["1199"]},
    "keywords": {"YES": "attending", "VOLUNTEER": "volunteer"},
    "canned_responses": [
        {"title": "Where is it?", "text": "It's at the union hall, {first_name}: 10 AM.",
         "translations": {"es": "Es en el local sindical, {first_name}: 10 AM."}},
        {"title": "Parking", "text": "There is free parking behind the hall."},
    ],
    "survey": {"question": "Are you coming?", "answers": [
        {"label": "Yes", "outcome": "attending", "next": "Great, {first_name}! See you there."},
        {"label": "Maybe", "outcome": "maybe_attending", "next": "We'll remind you Friday."},
    ]},
    "batch_size": 3,
}  # fmt: skip
MEMBERS = [
    ("Ana", "617-555-0101", "1199", "en"),
    ("Luis", "617-555-0102", "1199", "es"),
    ("Rosa", "617-555-0103", "1199", "en"),
    ("Mei", "617-555-0104", "1199", "es"),
    ("Wei", "617-555-0105", "1199", "en"),
    ("Omar", "617-555-0106", "1199", "en"),
    ("Kim", "617-555-0107", "26", "en"),
]
PHONES = ["+1" + m[1].replace("-", "") for m in MEMBERS]


def volunteer(sessions, email: str, languages=("en",), role: str = "volunteer") -> int:
    with session_scope(sessions) as session:
        user = create_user(session, email, role, PASSWORD)
        user.languages = list(languages)
        return user.id


def launch_p2p(client, sessions, auth, campaign=None, members=MEMBERS) -> int:
    seed(sessions, members)
    created = client.post("/api/v1/campaigns", json=campaign or P2P_CAMPAIGN, headers=auth)
    assert created.status_code == 201, created.get_json()
    campaign_id = created.get_json()["id"]
    launched = client.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=auth)
    assert launched.status_code == 202, launched.get_json()
    run_queue(client.application.extensions["textbank.settings"])  # the launch job snapshots
    return campaign_id


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def sign_in(client, email: str) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                           "csrf_token": csrf(page.text)})  # fmt: skip
    assert response.status_code == 302, response.text


def held_by(sessions, user_id: int) -> list[int]:
    with sessions() as session:
        return list(session.scalars(
            select(OutboundMessage.member_id).where(OutboundMessage.volunteer_id == user_id,
                                                    OutboundMessage.status == "held")
        ))  # fmt: skip


def user_id(sessions, email: str) -> int:
    with sessions() as session:
        return session.scalar(select(User.id).where(User.email == email))
