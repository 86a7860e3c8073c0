"""Call status callbacks: move a call forward (never back), retry what the policy allows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from textbank.calls.outbox import complete_if_done, learn_sid
from textbank.engagement.marks import Step, mark
from textbank.models import Call, Campaign, Member, table
from textbank.twilio.codes import (
    CALL_ENDED,
    CALL_RANK,
    CALL_RETRYABLE,
    MACHINE_ANSWERS,
    TWILIO_CALL_STATUS,
    CallStatus,
    call_lower_ranked,
)

log = logging.getLogger(__name__)
C = table(Call)


@dataclass(frozen=True)
class CallEvent:
    """What one status callback (or a fetched Call resource) says about one attempt."""

    call_id: int
    attempt: int
    sid: str
    twilio_status: str
    answered_by: str | None = None
    duration: int | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class Applied:
    moved: bool
    ended: bool  # the attempt's call is over: its concurrency slot can go
    retry_at: datetime | None = None


# What apply_event reads of the row (answers._load reads the same and hands it over).
_ROW = select(
    C.c.id, C.c.member_id, C.c.campaign_id, C.c.attempts, C.c.twilio_sid, C.c.placements,
    C.c.status, C.c.answered_by,
).where(C.c.id == bindparam("call_id"))  # fmt: skip


@cache
def _forward(status: CallStatus, answered: bool, ended: bool, error: bool, machine: bool):
    """The UPDATE that moves an attempt forward to `status`, built once per shape: building
    and hashing a statement per callback cost more CPU than running it."""
    now = bindparam("now", type_=C.c.updated_at.type)
    # Parameters are named apart from the columns: an execute() parameter named like a
    # column that the statement does not set would be SET too.
    values: dict = {"status": status.value, "twilio_status": bindparam("p_twilio_status"),
                    "updated_at": now}  # fmt: skip
    if answered:
        values["answered_by"] = func.coalesce(C.c.answered_by, bindparam("p_answered_by"))
    if ended:
        values["ended_at"] = now
        values["seconds"] = C.c.seconds + bindparam("p_duration", type_=Integer)
        if error:
            values["error_code"] = bindparam("p_error_code", type_=Integer)
    if status == CallStatus.IN_PROGRESS:
        values["answered_at"] = func.coalesce(C.c.answered_at, now)
    if machine:
        # The voicemail TwiML plays right after the beep: a machine answer is a message left.
        values["voicemail_at"] = func.coalesce(C.c.voicemail_at, now)
    return (
        update(C)
        .where(C.c.id == bindparam("call_id"), C.c.attempts == bindparam("attempt"),
               C.c.status.in_([s.value for s in call_lower_ranked(status)]))
        .values(**values)
    )  # fmt: skip


def apply_event(session: Session, event: CallEvent, now: datetime, row: Any = None) -> Applied:
    """Record a callback; duplicates, stale ones and ones about other attempts are no-ops.

    `row`: the call as _ROW reads it, when the caller has just read it in the same
    transaction (the answer URL's request); otherwise it is read here.
    """
    status = TWILIO_CALL_STATUS.get(event.twilio_status)
    if status is None:
        log.info("call %s: ignoring unknown Twilio status %r", event.sid, event.twilio_status)
        return Applied(False, False)
    if row is None:
        row = session.execute(_ROW, {"call_id": event.call_id}).first()
    if row is None or row.attempts != event.attempt or row.attempts == 0:
        log.warning("call %s: callback for call row %s attempt %s, which is not current",
                    event.sid, event.call_id, event.attempt)  # fmt: skip
        return Applied(False, status in CALL_ENDED)
    if row.twilio_sid not in (None, event.sid):
        log.warning("call row %s: callback from %s, but the attempt is %s", row.id, event.sid,
                    row.twilio_sid)  # fmt: skip
        return Applied(False, False)
    ended = status in CALL_ENDED
    if (
        row.twilio_sid == event.sid
        and CALL_RANK.get(CallStatus(row.status), 0) >= CALL_RANK[status]
        and (not event.answered_by or row.answered_by is not None)
    ):
        # Old news (the "initiated" after the worker recorded the call, the answer URL's
        # "in-progress" after the "answered" callback, a repeat): nothing to write. Ranks
        # only rise, so what was read cannot be overtaken by this event.
        return Applied(False, ended)
    learnt = row.twilio_sid is None and learn_sid(session, row.id, event.attempt, event.sid, now)
    placements = row.placements + (1 if learnt else 0)
    forward = _forward(status, bool(event.answered_by), ended, event.error_code is not None,
                       event.answered_by in MACHINE_ANSWERS)  # fmt: skip
    moved = cast(CursorResult, session.execute(forward, {
        "call_id": row.id, "attempt": event.attempt, "p_twilio_status": event.twilio_status,
        "now": now, "p_answered_by": event.answered_by,
        "p_duration": max(0, event.duration or 0), "p_error_code": event.error_code,
    })).rowcount  # fmt: skip
    if not moved:
        return Applied(False, ended)
    # Reached: a person or a recorder. Moving to in-progress marks it, so a call that ends
    # from in-progress was marked then (in the transaction that moved it).
    if status == CallStatus.IN_PROGRESS or (
        status == CallStatus.COMPLETED and (event.duration or 0) > 0
        and row.status != CallStatus.IN_PROGRESS
    ):  # fmt: skip
        mark(session, [row.member_id], Step.DELIVERED, now)
    retry_at = None
    if status in CALL_RETRYABLE:
        retry_at = _maybe_retry(session, row.campaign_id, row.id, row.member_id, event.attempt,
                                status, placements, now)  # fmt: skip
        if retry_at is None and status == CallStatus.FAILED:
            mark(session, [row.member_id], Step.FAILED, now)
    if ended and retry_at is None:
        complete_if_done(session, row.campaign_id, now)
    return Applied(True, ended, retry_at)


def _maybe_retry(
    session: Session, campaign_id: int, call_id: int, member_id: int, attempt: int,
    status: CallStatus, placements: int, now: datetime,
) -> datetime | None:  # fmt: skip
    """No answer, busy or failed: waiting again after the campaign's spacing, if attempts remain.

    The claim checks the window and the opt-out list again, so a retry never lands at night
    or on someone who pressed 9 elsewhere meanwhile.
    """
    voice = session.scalar(select(Campaign.voice).where(Campaign.id == campaign_id)) or {}
    policy = voice.get("retry") or {}
    if placements >= int(policy.get("attempts", 1)):
        return None
    if session.scalar(select(Member.opted_out_at).where(Member.id == member_id)) is not None:
        return None
    retry_at = now + timedelta(minutes=int(policy.get("spacing_minutes", 60)))
    session.execute(
        update(C)
        .where(C.c.id == call_id, C.c.attempts == attempt, C.c.status == status)
        .values(status=CallStatus.DEFERRED, send_after=retry_at, claimed_at=None, updated_at=now)
    )  # fmt: skip
    log.info("call row %s: %s on placement %d, retrying at %s", call_id, status, placements,
             retry_at.isoformat())  # fmt: skip
    return retry_at
