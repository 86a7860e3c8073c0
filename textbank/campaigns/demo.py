"""The demo campaign `textbank dev` offers, and when its texts would go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.campaigns.lifecycle import create_campaign
from textbank.compliance.quiet_hours import SendWindow, check
from textbank.members.phones import time_zones
from textbank.models import Campaign, Member

DEMO_NAME = "Demo: contract vote reminder"
DEMO = {
    "name": DEMO_NAME,
    "kind": "gotv",
    "message": "Hi {first_name}! {local} votes on the new contract Thursday. Reply YES if you "
    "will vote, VOLUNTEER to help.",
    "translations": {
        "es": "¡Hola {first_name}! {local} vota el contrato el jueves. Responda SÍ si va a "
        "votar, VOLUNTARIO para ayudar."
    },
    "audience": {},
    "keywords": {"YES": "pledged_to_vote", "VOLUNTEER": "volunteer"},
    "replies": {"pledged_to_vote": {"en": "Thank you!", "es": "¡Gracias!"}},
}


@dataclass
class Timing:
    members: int
    now: int  # textable right now, in their own time zone
    later: int
    first_later: datetime | None  # when the first of the others may be texted (UTC)


def ensure_demo_campaign(session: Session) -> Campaign:
    """The draft demo campaign, created on first run (to every textable demo member)."""
    found = session.scalar(select(Campaign).where(Campaign.name == DEMO_NAME))
    return found or create_campaign(session, DEMO)


def timing(session: Session, window: SendWindow, now: datetime) -> Timing:
    """How many textable members may be texted now, and when the rest's window opens."""
    phones = session.scalars(select(Member.phone).where(Member.opted_out_at.is_(None))).all()
    ready, later, first = 0, 0, None
    by_zones: dict[tuple[str, ...], object] = {}
    for phone in phones:
        zones = time_zones(phone)
        if zones not in by_zones:
            by_zones[zones] = check(window, zones, now)
        verdict = by_zones[zones]
        if verdict.open:  # type: ignore[attr-defined]
            ready += 1
        else:
            later += 1
            opens = verdict.opens_at  # type: ignore[attr-defined]
            first = opens if first is None or opens < first else first
    total = session.scalar(select(func.count()).select_from(Member)) or 0
    return Timing(total, ready, later, first)
