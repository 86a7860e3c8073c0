"""Per-member engagement firsts: texted, delivered, failed, replied, acted, volunteered."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.orm import Session

from textbank.db import Executor, among, dialect_name
from textbank.models import Classification, Member, table
from textbank.reports.measures import CONVERSATIONAL as _CONVERSATIONAL
from textbank.twilio.codes import MessageStatus

M = table(Member)


class Step(StrEnum):
    TEXTED = "texted"
    DELIVERED = "delivered"
    FAILED = "failed"
    REPLIED = "replied"
    ACTED = "acted"
    VOLUNTEERED = "volunteered"


# Replies that are a conversation: defined with the report's measures, in one place.
CONVERSATIONAL = tuple(Classification(c) for c in _CONVERSATIONAL)


def mark(session: Session, member_ids: Iterable[int], step: Step, now: datetime) -> None:
    """Record the first time each member reached `step`; later times leave it alone."""
    ids = sorted(set(member_ids))
    column = M.c[f"first_{step.value}_at"]
    if len(ids) == 1:
        mark_member(session, ids[0], (step,), now)
        return
    dialect = dialect_name(session)
    for start in range(0, len(ids), 5000):
        session.execute(
            update(M)
            .where(among(M.c.id, ids[start : start + 5000], dialect), column.is_(None))
            .values({column: now})
        )


@cache
def mark_member_statement(steps: tuple[Step, ...]):
    columns = [M.c[f"first_{step.value}_at"] for step in steps]
    return (
        update(M)
        .where(M.c.id == bindparam("member_id"), or_(*(c.is_(None) for c in columns)))
        .values({c: func.coalesce(c, bindparam("now", type_=c.type)) for c in columns})
        .values(updated_at=bindparam("now"))  # set here, not by onupdate: no Python-side default
    )


def mark_member(executor: Executor, member_id: int, steps: Iterable[Step], now: datetime) -> None:
    """One member's firsts for several steps at once: a reply that is also an action."""
    key = tuple(sorted(set(steps)))
    if key:
        executor.execute(mark_member_statement(key), {"member_id": member_id, "now": now})


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
