"""Per-member engagement firsts: texted, delivered, failed, replied, acted, volunteered."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from textbank.models import Classification, Member
from textbank.twilio_codes import MessageStatus

M = Member.__table__


class Step(StrEnum):
    TEXTED = "texted"
    DELIVERED = "delivered"
    FAILED = "failed"
    REPLIED = "replied"
    ACTED = "acted"
    VOLUNTEERED = "volunteered"


# Replies that are a conversation; an opt-out or opt-in is not one.
CONVERSATIONAL = tuple(
    c for c in Classification if c not in (Classification.OPT_OUT, Classification.OPT_IN)
)


def mark(session: Session, member_ids: Iterable[int], step: Step, now: datetime) -> None:
    """Record the first time each member reached `step`; later times leave it alone."""
    ids = sorted(set(member_ids))
    column = M.c[f"first_{step.value}_at"]
    if len(ids) == 1:  # the reply path: one member, a plain primary-key update
        session.execute(update(M).where(M.c.id == ids[0], column.is_(None)).values({column: now}))
        return
    for start in range(0, len(ids), 5000):
        session.execute(
            update(M)
            .where(M.c.id.in_(ids[start : start + 5000]), column.is_(None))
            .values({column: now})
        )


def steps_for(status: MessageStatus) -> tuple[Step, ...]:
    """What a message that Twilio accepted (it has a SID) says about its member."""
    if status == MessageStatus.DELIVERED:
        return (Step.TEXTED, Step.DELIVERED)
    if status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return (Step.TEXTED, Step.FAILED)
    return (Step.TEXTED,)


def mark_accepted(
    session: Session, rows: Iterable[tuple[int, MessageStatus]], now: datetime
) -> None:
    """(member id, status) of messages Twilio accepted: texted, and delivered or failed."""
    by_step: dict[Step, list[int]] = {}
    for member_id, status in rows:
        for step in steps_for(status):
            by_step.setdefault(step, []).append(member_id)
    for step, ids in by_step.items():
        mark(session, ids, step, now)
