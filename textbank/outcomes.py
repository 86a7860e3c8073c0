"""Outcomes: actions members take and volunteer sign-ups, recorded once."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from textbank.engagement import Step, mark
from textbank.models import VOLUNTEER_OUTCOME, Campaign, Member, Outcome, OutcomeSource

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class OutcomeError(ValueError):
    """An outcome that cannot be recorded; the message says why."""


def record_outcome(
    session: Session,
    member_id: int,
    campaign_id: int | None,
    name: str,
    source: OutcomeSource,
    now: datetime,
    *,
    inbound_message_id: int | None = None,
    note: str | None = None,
) -> bool:
    """Record an outcome; True if new. One per member, campaign and name, however often asked."""
    if not _NAME_RE.match(name):
        raise OutcomeError(f"outcome must be a name like signed_petition, got {name!r}")
    values = {
        "member_id": member_id, "campaign_id": campaign_id, "name": name,
        "source": source.value, "inbound_message_id": inbound_message_id,
        "note": note, "created_at": now,
    }  # fmt: skip
    step = Step.VOLUNTEERED if name == VOLUNTEER_OUTCOME else Step.ACTED
    if campaign_id is None:  # phone-bank or event results outside a campaign: each is its own
        session.add(Outcome(**values))
        session.flush()
        mark(session, [member_id], step, now)
        return True
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Outcome.__table__)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["member_id", "campaign_id", "name"],
            index_where=Outcome.__table__.c.campaign_id.is_not(None),
        )
        .returning(Outcome.__table__.c.id)
    )
    created = session.scalar(stmt) is not None
    if created:
        mark(session, [member_id], step, now)
    return created


def record_from_api(session: Session, member_id: int, data: object, now: datetime) -> dict:
    """POST /members/ID/outcomes: {"name", "campaign_id"?, "source"?, "note"?}."""
    if not isinstance(data, dict):
        raise OutcomeError('send a JSON object like {"name": "attended_rally"}')
    if session.get(Member, member_id) is None:
        raise LookupError(f"no member {member_id}")
    campaign_id = data.get("campaign_id")
    if campaign_id is not None and (
        not isinstance(campaign_id, int) or session.get(Campaign, campaign_id) is None
    ):
        raise OutcomeError(f"no campaign {campaign_id}")
    try:
        source = OutcomeSource(data.get("source", OutcomeSource.API))
    except ValueError as exc:
        allowed = ", ".join(s.value for s in OutcomeSource)
        raise OutcomeError(f"source must be one of {allowed}") from exc
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise OutcomeError("note must be text of at most 500 characters")
    name = data.get("name")
    if not isinstance(name, str):
        raise OutcomeError("name is required")
    created = record_outcome(session, member_id, campaign_id, name, source, now, note=note)
    return {"member_id": member_id, "campaign_id": campaign_id, "name": name,
            "source": source.value, "created": created}  # fmt: skip


def member_outcomes(session: Session, member_id: int) -> list[dict]:
    rows = session.scalars(
        select(Outcome).where(Outcome.member_id == member_id).order_by(Outcome.created_at)
    )
    return [
        {"name": o.name, "campaign_id": o.campaign_id, "source": o.source,
         "volunteer": o.is_volunteer, "created_at": o.created_at.isoformat()}
        for o in rows
    ]  # fmt: skip
