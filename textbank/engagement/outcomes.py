"""Outcomes: actions members take and volunteer sign-ups, recorded once."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from textbank.db import Executor, dialect_name, upsert
from textbank.engagement.marks import Step, mark_member
from textbank.models import VOLUNTEER_OUTCOME, Campaign, Member, Outcome, OutcomeSource, table
from textbank.values import record_id

OUTCOMES = table(Outcome)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class OutcomeError(ValueError):
    """An outcome that cannot be recorded; the message says why."""


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise OutcomeError(f"outcome must be a name like signed_petition, got {name!r}")


@cache
def outcome_statement(dialect: str, in_campaign: bool):
    """The outcome INSERT. Its values are bound under names no other table's column has, so
    it can share one statement with the reply's own UPDATEs (see reply_store)."""
    values: dict[str, Any] = {
              "member_id": bindparam("member_id"), "campaign_id": bindparam("campaign_id"),
              "name": bindparam("outcome_name"), "source": bindparam("outcome_source"),
              "inbound_message_id": bindparam("outcome_inbound_id"),
              "note": bindparam("outcome_note"), "created_at": bindparam("now")}  # fmt: skip
    if not in_campaign:  # phone-bank or event results outside a campaign: each is its own
        return insert(OUTCOMES).values(values).returning(OUTCOMES.c.id)
    return (
        upsert(dialect, OUTCOMES)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=["member_id", "campaign_id", "name"],
            index_where=OUTCOMES.c.campaign_id.is_not(None),
        )
        .returning(OUTCOMES.c.id)
    )


def step_for(name: str) -> Step:
    return Step.VOLUNTEERED if name == VOLUNTEER_OUTCOME else Step.ACTED


def insert_outcome(
    executor: Executor,
    member_id: int,
    campaign_id: int | None,
    name: str,
    source: OutcomeSource,
    now: datetime,
    *,
    inbound_message_id: int | None = None,
    note: str | None = None,
) -> bool:
    """Store an outcome, once per member, campaign and name; True if new. Marks nothing."""
    check_name(name)
    stmt = outcome_statement(dialect_name(executor), campaign_id is not None)
    values = {"member_id": member_id, "campaign_id": campaign_id, "outcome_name": name,
              "outcome_source": source.value, "outcome_inbound_id": inbound_message_id,
              "outcome_note": note, "now": now}  # fmt: skip
    return executor.execute(stmt, values).first() is not None


def record_outcome(
    executor: Executor,
    member_id: int,
    campaign_id: int | None,
    name: str,
    source: OutcomeSource,
    now: datetime,
    *,
    note: str | None = None,
) -> bool:
    """Record an outcome and the member's first action or sign-up; True if new."""
    created = insert_outcome(executor, member_id, campaign_id, name, source, now, note=note)
    if created:
        mark_member(executor, member_id, (step_for(name),), now)
    return created


def record_from_api(session: Session, member_id: int, data: object, now: datetime) -> dict:
    """POST /members/ID/outcomes: {"name", "campaign_id"?, "source"?, "note"?}."""
    if not isinstance(data, dict):
        raise OutcomeError('send a JSON object like {"name": "attended_rally"}')
    if session.get(Member, member_id) is None:
        raise LookupError(f"no member {member_id}")
    campaign_id = data.get("campaign_id")
    if campaign_id is not None:
        # `true` is no campaign id (Python would take it for campaign 1).
        campaign_id = record_id(campaign_id, "campaign_id")
        if session.get(Campaign, campaign_id) is None:
            raise OutcomeError(f"campaign_id: no campaign {campaign_id}")
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
