"""The voice sweeper: decide unknown placements by listing calls, find lost callbacks, requeue."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from textbank.calls.callbacks import CallEvent, apply_event
from textbank.calls.outbox import complete_if_done, due_buckets
from textbank.calls.pacing import slot_name
from textbank.models import Call, Campaign, CampaignStatus, Channel, table
from textbank.twilio.codes import CALL_ENDED, CALL_LIVE, TWILIO_CALL_STATUS, CallStatus

log = logging.getLogger(__name__)
C = table(Call)
LOOK_BACK = timedelta(minutes=2)  # clocks differ: list from a little before the claim
# A live call with no news for this long is fetched: Twilio does not resend a status
# callback the app failed to take, and a call's row must not stay live (holding its slot
# and the campaign open) for want of one. A call still going is simply fetched again.
SILENT_AFTER = timedelta(minutes=2)


@dataclass
class CallSweepReport:
    adopted: int = 0
    freed: int = 0
    refreshed: int = 0
    enqueued: dict[int, list[int]] = field(default_factory=dict)
    completed: list[int] = field(default_factory=list)


def _event(call_id: int, attempt: int, call) -> CallEvent:
    duration = int(call.duration) if call.duration not in (None, "") else None
    return CallEvent(call_id, attempt, call.sid, call.status, call.answered_by, duration)


def find_unowned_call(session: Session, client: Client, phone: str, since: datetime, from_: str):
    """The earliest call to `phone` from us since `since` that no call row owns yet."""
    filters = {"from_": from_} if from_ else {}
    calls = client.calls.list(to=phone, start_time_after=since, limit=50, **filters)
    if not calls:
        return None
    owned = set(session.scalars(select(Call.twilio_sid).where(Call.twilio_sid.in_(
        [c.sid for c in calls]))))  # fmt: skip
    free = [c for c in calls if c.sid not in owned]
    free.sort(key=lambda c: c.start_time or c.date_created or since)
    return free[0] if free else None


def reconcile_placing(
    session: Session, client: Client, campaign_id: int, now: datetime, stuck_after: timedelta,
    quarantine: timedelta, from_: str, release: Callable[[str], None],
) -> tuple[int, int]:  # fmt: skip
    """Rows left placing (a dead worker, an unclear create), once quarantined: adopt or free."""
    rows = session.execute(
        select(C.c.id, C.c.phone, C.c.attempts, C.c.claimed_at, C.c.twilio_sid).where(
            C.c.campaign_id == campaign_id,
            C.c.status == CallStatus.PLACING,
            C.c.claimed_at < now - stuck_after,
            C.c.updated_at < now - quarantine,
        )
    ).all()
    adopted = freed = 0
    for row in rows:
        if row.twilio_sid is not None:  # a callback taught us the SID; its status is late
            session.execute(update(C).where(C.c.id == row.id, C.c.status == CallStatus.PLACING)
                            .values(status=CallStatus.QUEUED, updated_at=now))  # fmt: skip
            continue
        try:
            call = find_unowned_call(session, client, row.phone, row.claimed_at - LOOK_BACK, from_)
        except TwilioRestException as exc:
            log.warning("call row %s: cannot reconcile yet (%s)", row.id, exc)
            continue
        if call is not None:
            apply_event(session, _event(row.id, row.attempts, call), now)
            if TWILIO_CALL_STATUS.get(call.status) in CALL_ENDED:
                release(slot_name(row.id, row.attempts))
            adopted += 1
            continue
        session.execute(
            update(C)
            .where(C.c.id == row.id, C.c.attempts == row.attempts,
                   C.c.status == CallStatus.PLACING, C.c.twilio_sid.is_(None))
            .values(status=CallStatus.PENDING, claimed_at=None, updated_at=now)
        )  # fmt: skip
        release(slot_name(row.id, row.attempts))
        freed += 1
    if rows:
        log.info("voice campaign %s: reconciled %d placing calls (%d found at Twilio, %d freed)",
                 campaign_id, len(rows), adopted, freed)  # fmt: skip
    return adopted, freed


def refresh_silent(
    session: Session, client: Client, campaign_id: int, now: datetime,
    release: Callable[[str], None],
) -> int:  # fmt: skip
    """Live calls with no news for a while: fetch them, in case their callbacks were lost."""
    rows = session.execute(
        select(C.c.id, C.c.attempts, C.c.twilio_sid).where(
            C.c.campaign_id == campaign_id,
            C.c.status.in_([s for s in CALL_LIVE if s != CallStatus.PLACING]),
            C.c.twilio_sid.is_not(None),
            C.c.updated_at < now - SILENT_AFTER,
        )
    ).all()
    for row in rows:
        try:
            call = client.calls(row.twilio_sid).fetch()
        except TwilioRestException as exc:
            log.warning("call row %s: cannot fetch %s (%s)", row.id, row.twilio_sid, exc)
            continue
        if apply_event(session, _event(row.id, row.attempts, call), now).ended:
            release(slot_name(row.id, row.attempts))
    return len(rows)


def sweep_calls(
    sessions: sessionmaker[Session], client: Client, enqueue: Callable[[int, list[int]], int],
    now: datetime, stuck_after: timedelta, quarantine: timedelta, from_: str,
    release: Callable[[str], None],
) -> CallSweepReport:  # fmt: skip
    """One pass over sending voice campaigns; safe any time, from any number of workers."""
    report = CallSweepReport()
    with sessions() as session:
        sending = (Campaign.status == CampaignStatus.SENDING) & (Campaign.channel == Channel.VOICE)
        ids = list(session.scalars(select(Campaign.id).where(sending)))
    for campaign_id in ids:
        with sessions.begin() as session:
            adopted, freed = reconcile_placing(session, client, campaign_id, now, stuck_after,
                                               quarantine, from_, release)  # fmt: skip
            report.adopted += adopted
            report.freed += freed
        with sessions.begin() as session:
            report.refreshed += refresh_silent(session, client, campaign_id, now, release)
        with sessions.begin() as session:
            buckets = due_buckets(session, campaign_id, now)
            if not buckets and complete_if_done(session, campaign_id, now):
                report.completed.append(campaign_id)
        if buckets and enqueue(campaign_id, buckets):
            report.enqueued[campaign_id] = buckets
    return report
