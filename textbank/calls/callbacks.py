"""Call status callbacks: move a call forward (never back), retry what the policy allows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import case, func, select, update
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


def apply_event(session: Session, event: CallEvent, now: datetime) -> Applied:
    """Record a callback; duplicates, stale ones and ones about other attempts are no-ops."""
    status = TWILIO_CALL_STATUS.get(event.twilio_status)
    if status is None:
        log.info("call %s: ignoring unknown Twilio status %r", event.sid, event.twilio_status)
        return Applied(False, False)
    row = session.execute(
        select(C.c.id, C.c.member_id, C.c.campaign_id, C.c.attempts, C.c.twilio_sid,
               C.c.placements, C.c.status, C.c.answered_by).where(C.c.id == event.call_id)
    ).first()  # fmt: skip
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
    values: dict = {"status": status, "twilio_status": event.twilio_status, "updated_at": now}
    if event.answered_by:
        values["answered_by"] = func.coalesce(C.c.answered_by, event.answered_by)
    if ended:
        values["ended_at"] = now
        values["seconds"] = C.c.seconds + max(0, event.duration or 0)
        if event.error_code is not None:
            values["error_code"] = event.error_code
    if status == CallStatus.IN_PROGRESS:
        values["answered_at"] = func.coalesce(C.c.answered_at, now)
    if event.answered_by in MACHINE_ANSWERS:
        # The voicemail TwiML plays right after the beep: a machine answer is a message left.
        values["voicemail_at"] = case((C.c.voicemail_at.is_(None), now), else_=C.c.voicemail_at)
    moved = cast(CursorResult, session.execute(
        update(C)
        .where(C.c.id == row.id, C.c.attempts == event.attempt,
               C.c.status.in_(call_lower_ranked(status)))
        .values(**values)
    )).rowcount  # fmt: skip
    if not moved:
        return Applied(False, ended)
    if status in (CallStatus.IN_PROGRESS, CallStatus.COMPLETED) and (
        status == CallStatus.IN_PROGRESS or (event.duration or 0) > 0
    ):
        mark(session, [row.member_id], Step.DELIVERED, now)  # reached: a person or a recorder
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
