"""A voice campaign's call rows in the database: claimed, placed, given back, completed.

Every statement names the attempt it is about, so a late answer about an earlier attempt
(a retry has since been claimed) never touches the current one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from textbank.calls.launch import BUCKET
from textbank.calls.pacing import slot_name
from textbank.compliance.quiet_hours import SendWindow, WindowCheck, check
from textbank.db import among, dialect_name
from textbank.engagement.marks import Step, mark
from textbank.members.phones import time_zones
from textbank.models import Call, CallOptOut, Campaign, CampaignStatus, Channel, Member, table
from textbank.twilio.codes import CALL_LIVE, CALL_UNFINISHED, CALL_WAITING, CallStatus

log = logging.getLogger(__name__)
C = table(Call)
SENDING_STATES = (CampaignStatus.SENDING, CampaignStatus.LAUNCHING)


@dataclass
class Claimed:
    id: int
    member_id: int
    phone: str
    attempt: int
    ring_seconds: int


def claim(
    session: Session, campaign_id: int, bucket: int, window: SendWindow, limit: int,
    now: datetime, ring_seconds: int,
) -> list[Claimed]:  # fmt: skip
    """Move due rows of the bucket from waiting to placing; only one worker gets each row."""
    in_bucket = and_(C.c.campaign_id == campaign_id,
                     C.c.id.between(bucket * BUCKET, bucket * BUCKET + BUCKET - 1))  # fmt: skip
    # Opt-outs are checked again here, when the call is about to be placed, not only at launch.
    session.execute(
        update(C)
        .where(
            in_bucket,
            C.c.status.in_(CALL_WAITING),
            or_(
                C.c.member_id.in_(select(Member.id).where(Member.opted_out_at.is_not(None))),
                C.c.phone.in_(select(CallOptOut.phone)),
            ),
        )
        .values(status=CallStatus.SKIPPED, error_message="opted out before the call",
                updated_at=now)
    )  # fmt: skip
    sending = exists().where(Campaign.id == campaign_id, Campaign.status.in_(SENDING_STATES))
    candidates = session.execute(
        select(C.c.id, C.c.member_id, C.c.phone, C.c.attempts)
        .where(in_bucket, C.c.status.in_(CALL_WAITING), sending,
               or_(C.c.send_after.is_(None), C.c.send_after <= now))
        .order_by(C.c.id)
        .limit(limit)
        .with_for_update(of=C, skip_locked=True)
    ).all()  # fmt: skip
    due, deferrals = [], []
    gates: dict[tuple[str, ...], WindowCheck] = {}
    for row in candidates:
        zones = time_zones(row.phone)
        gate = gates.get(zones) or gates.setdefault(zones, check(window, zones, now))
        if gate.open:
            due.append(row)
        else:
            deferrals.append({"row_id": row.id, "opens": gate.opens_at})
    if deferrals:
        session.execute(
            update(C)
            .where(C.c.id == bindparam("row_id"), C.c.status.in_(CALL_WAITING))
            .values(status=CallStatus.DEFERRED, send_after=bindparam("opens"), updated_at=now),
            deferrals,
        )
    if not due:
        return []
    # Locked above until this transaction ends, so what was read is what is claimed. The
    # previous attempt's SID goes: its late callbacks name their attempt and are ignored.
    session.execute(
        update(C)
        .where(among(C.c.id, [r.id for r in due], dialect_name(session)))
        .values(status=CallStatus.PLACING, claimed_at=now, attempts=C.c.attempts + 1,
                twilio_sid=None, twilio_status=None, error_code=None, error_message=None,
                updated_at=now)
    )  # fmt: skip
    return [Claimed(r.id, r.member_id, r.phone, r.attempts + 1, ring_seconds) for r in due]


_NOW = bindparam("now", type_=C.c.updated_at.type)
# Built once: a callback's statements are cheap to run and, built each time, dear to make.
_LEARN_SID = (
    update(C)
    .where(C.c.id == bindparam("call_id"), C.c.attempts == bindparam("attempt"),
           C.c.twilio_sid.is_(None))
    .values(twilio_sid=bindparam("sid"), placements=C.c.placements + 1,
            placed_at=func.coalesce(C.c.placed_at, _NOW), updated_at=_NOW)
    .returning(C.c.member_id)
)  # fmt: skip
_UNFINISHED = select(
    exists().where(C.c.campaign_id == bindparam("campaign_id"),
                   C.c.status.in_([s.value for s in CALL_UNFINISHED]))
)  # fmt: skip
_CAMPAIGNS = table(Campaign)
_COMPLETE = (
    update(_CAMPAIGNS)
    .where(_CAMPAIGNS.c.id == bindparam("campaign_id"),
           _CAMPAIGNS.c.status == CampaignStatus.SENDING.value,
           _CAMPAIGNS.c.channel == Channel.VOICE.value)
    .values(status=CampaignStatus.COMPLETED.value, completed_at=bindparam("now"))
)  # fmt: skip


def learn_sid(session: Session, call_id: int, attempt: int, sid: str, now: datetime) -> bool:
    """The attempt's call exists at Twilio under `sid`; True the first time it is learnt.

    Whoever learns it first (the worker's 201, a callback, the reconciler) counts the
    placement and marks the member contacted; the rest find the SID already there.
    """
    learnt = session.execute(
        _LEARN_SID, {"call_id": call_id, "attempt": attempt, "sid": sid, "now": now}
    ).first()
    if learnt is None:
        return False
    mark(session, [learnt.member_id], Step.TEXTED, now)
    return True


def _record_placed(row_id, attempt, sid, tstatus):
    """A placed attempt takes its SID (counted once, whoever learns it first) and `queued`,
    unless a callback already moved it on. Each SET reads the row as the lock left it."""
    unknown_sid = C.c.twilio_sid.is_(None)
    placing = C.c.status == CallStatus.PLACING
    return (
        update(C)
        .where(C.c.id == row_id, C.c.attempts == attempt)
        .values(
            twilio_sid=func.coalesce(C.c.twilio_sid, sid),
            placements=C.c.placements + case((unknown_sid, 1), else_=0),
            placed_at=func.coalesce(C.c.placed_at, bindparam("now")),
            status=case((placing, CallStatus.QUEUED.value), else_=C.c.status),
            twilio_status=case((placing, tstatus), else_=C.c.twilio_status),
            updated_at=bindparam("now"),
        )
    )


_PLACED = _record_placed(bindparam("row_id"), bindparam("p_attempt"), bindparam("p_sid"),
                         bindparam("p_tstatus"))  # fmt: skip
# PostgreSQL: a claim's placed calls as four arrays, one statement instead of one per call.
_PLACED_ROWS = (
    func.unnest(
        bindparam("row_ids", type_=ARRAY(Integer)), bindparam("p_attempts", type_=ARRAY(Integer)),
        bindparam("p_sids", type_=ARRAY(String)), bindparam("p_tstatuses", type_=ARRAY(String)),
    )
    .table_valued(column("row_id", Integer), column("attempt", Integer), column("sid", String),
                  column("tstatus", String))
    .render_derived(name="placed")
)  # fmt: skip
_PLACED_ARRAYS = _record_placed(_PLACED_ROWS.c.row_id, _PLACED_ROWS.c.attempt,
                                _PLACED_ROWS.c.sid, _PLACED_ROWS.c.tstatus)  # fmt: skip


def placed(session: Session, calls: list[tuple[Claimed, str, str]], now: datetime) -> None:
    """Twilio created these calls: (row, SID, Twilio's status) each. Marks their members
    contacted (a first, so marking one a callback already marked changes nothing)."""
    if not calls:
        return
    if dialect_name(session) == "postgresql":
        session.execute(_PLACED_ARRAYS, {
            "row_ids": [r.id for r, _, _ in calls], "p_attempts": [r.attempt for r, _, _ in calls],
            "p_sids": [sid for _, sid, _ in calls], "p_tstatuses": [t for _, _, t in calls],
            "now": now,
        })  # fmt: skip
    else:
        session.execute(_PLACED, [
            {"row_id": r.id, "p_attempt": r.attempt, "p_sid": sid, "p_tstatus": t, "now": now}
            for r, sid, t in calls
        ])  # fmt: skip
    mark(session, [r.member_id for r, _, _ in calls], Step.TEXTED, now)


def give_back(session: Session, row: Claimed, now: datetime, reason: str) -> None:
    """Nothing was created (never requested, or refused with a 429): waiting again."""
    session.execute(
        update(C)
        .where(C.c.id == row.id, C.c.attempts == row.attempt, C.c.status == CallStatus.PLACING,
               C.c.twilio_sid.is_(None))
        .values(status=CallStatus.PENDING, claimed_at=None, error_message=reason[:300],
                updated_at=now)
    )  # fmt: skip


def refused(session: Session, row: Claimed, code: int | None, message: str, now: datetime) -> None:
    """Twilio refused the call outright (an invalid number): it ends here, never retried."""
    session.execute(
        update(C)
        .where(C.c.id == row.id, C.c.attempts == row.attempt, C.c.status == CallStatus.PLACING)
        .values(status=CallStatus.FAILED, error_code=code, error_message=message[:300],
                ended_at=now, updated_at=now)
    )  # fmt: skip


def unknown(session: Session, row: Claimed, message: str, now: datetime) -> None:
    """The create may or may not have happened: left placing for the reconciler to decide."""
    session.execute(
        update(C)
        .where(C.c.id == row.id, C.c.attempts == row.attempt, C.c.status == CallStatus.PLACING)
        .values(error_message=f"unknown outcome: {message}"[:300], updated_at=now)
    )  # fmt: skip


def skip(session: Session, row: Claimed, now: datetime) -> None:
    session.execute(
        update(C)
        .where(C.c.id == row.id, C.c.attempts == row.attempt, C.c.status == CallStatus.PLACING)
        .values(status=CallStatus.SKIPPED, error_message="opted out while the campaign ran",
                updated_at=now)
    )  # fmt: skip


def attempts_not_over(session: Session) -> tuple[list[str], list[str]]:
    """The slot names of every call attempt not over: (placed and in progress, ringing or
    initiated; still placing with no call known yet). What the live-call cap counts."""
    voice = select(Campaign.id).where(Campaign.channel == Channel.VOICE,
                                      Campaign.status != CampaignStatus.COMPLETED)  # fmt: skip
    rows = session.execute(
        select(C.c.id, C.c.attempts, C.c.status, C.c.twilio_sid).where(
            C.c.campaign_id.in_(voice), C.c.status.in_(CALL_LIVE))
    ).all()  # fmt: skip
    live: list[str] = []
    placing: list[str] = []
    for row in rows:
        unplaced = row.status == CallStatus.PLACING and row.twilio_sid is None
        (placing if unplaced else live).append(slot_name(row.id, row.attempts))
    return live, placing


def due_buckets(session: Session, campaign_id: int, now: datetime) -> list[int]:
    return sorted(
        session.scalars(
            select(C.c.id // BUCKET)
            .distinct()
            .where(
                C.c.campaign_id == campaign_id,
                C.c.status.in_(CALL_WAITING),
                or_(C.c.send_after.is_(None), C.c.send_after <= now),
            )
        )
    )


def complete_if_done(session: Session, campaign_id: int, now: datetime) -> bool:
    """Mark a voice campaign completed once no call is waiting, retrying or live."""
    if session.scalar(_UNFINISHED, {"campaign_id": campaign_id}):
        return False
    done = cast(CursorResult, session.execute(
        _COMPLETE, {"campaign_id": campaign_id, "now": now})).rowcount  # fmt: skip
    if done:
        log.info("voice campaign %s completed", campaign_id)
    return bool(done)
