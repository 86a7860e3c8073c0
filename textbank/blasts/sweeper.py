"""The sweeper: finds work the queues lost (dead workers, a restarted Redis, deferred rows)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Row, Update, and_, exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from textbank.blasts.outbox import answers_reply, complete_if_done
from textbank.engagement.marks import mark_accepted
from textbank.models import Campaign, CampaignStatus, Channel, OutboundMessage, table
from textbank.twilio.attempts import DEFAULT_QUARANTINE, REQUEST_ERRORS
from textbank.twilio.codes import TWILIO_STATUS, UNFINISHED, WAITING, MessageStatus

log = logging.getLogger(__name__)
T = table(OutboundMessage)


@dataclass
class SweepReport:
    reconciled_sent: int = 0
    reset_to_pending: int = 0
    enqueued: dict[int, list[int]] = field(default_factory=dict)
    completed: list[int] = field(default_factory=list)
    relaunched: list[int] = field(default_factory=list)


LIVE = (CampaignStatus.LAUNCHING, CampaignStatus.SENDING, CampaignStatus.PAUSED)
# A completed campaign still sends the answers to its members' replies: swept while any waits.
_answers_waiting = (Campaign.status == CampaignStatus.COMPLETED) & exists().where(
    T.c.campaign_id == Campaign.id, T.c.status.in_(UNFINISHED), answers_reply(T)
)


def find_at_twilio(client: Client, phone: str, body: str, since: datetime):
    """A message to `phone` with this body created after `since`, if Twilio has one.

    Lists by recipient rather than by DateSent: a message still queued at Twilio has
    no date_sent yet and would slip through a date filter.
    """
    for message in client.messages.list(to=phone, limit=200, page_size=100):
        if message.body == body and (message.date_created is None or message.date_created >= since):
            return message
    return None


def stuck_rows(session: Session, campaign_id: int, now: datetime, stuck_after: timedelta,
               quarantine: timedelta) -> Sequence[Row]:  # fmt: skip
    """Rows in `sending` no worker holds any more and whose last attempt is out of quarantine.

    A row a worker handed back with an unknown outcome carries that attempt's start; a row a
    dead worker left does not, and its last attempt may have begun as late as its claim's end.
    """
    return session.execute(
        select(T.c.id, T.c.member_id, T.c.phone, T.c.body, T.c.claimed_at).where(
            T.c.campaign_id == campaign_id,
            T.c.status == MessageStatus.SENDING,
            or_(
                and_(T.c.attempted_at.is_not(None), T.c.attempted_at < now - quarantine),
                and_(T.c.attempted_at.is_(None), T.c.claimed_at < now - stuck_after - quarantine),
            ),
        )
    ).all()


def _changed(session: Session, statement: Update) -> int:
    return cast(CursorResult, session.execute(statement)).rowcount


def reconcile_stuck(
    sessions: sessionmaker[Session], client: Client, campaign_id: int, now: datetime,
    stuck_after: timedelta, quarantine: timedelta,
) -> tuple[int, int]:  # fmt: skip
    """Resolve rows left in `sending`: record what Twilio has, free the rest to be sent again.

    Each row's lookup at Twilio happens outside any transaction; what it found is written in
    a short one, guarded so a status callback that landed meanwhile wins.
    """
    with sessions() as session:
        stuck = stuck_rows(session, campaign_id, now, stuck_after, quarantine)
    found = freed = 0
    for row in stuck:
        try:
            message = find_at_twilio(
                client, row.phone, row.body, row.claimed_at - timedelta(minutes=5)
            )
        except REQUEST_ERRORS as exc:
            log.warning("message %s: cannot reconcile yet (%s)", row.id, exc)
            continue
        guard = (
            (T.c.id == row.id)
            & (T.c.status == MessageStatus.SENDING)
            & (T.c.claimed_at == row.claimed_at)
        )
        with sessions.begin() as session:
            if message is not None:
                status = TWILIO_STATUS.get(message.status, MessageStatus.SENT)
                moved = _changed(session, update(T).where(guard).values(
                    status=status, twilio_sid=message.sid, twilio_status=message.status,
                    sent_at=message.date_created or now, updated_at=now,
                ))  # fmt: skip
                if moved:
                    mark_accepted(session, [(row.member_id, status)], now)
                    found += 1
            else:
                freed += _changed(session, update(T).where(guard).values(
                    status=MessageStatus.PENDING, claimed_at=None, attempted_at=None,
                    updated_at=now,
                ))  # fmt: skip
    if stuck:
        log.info("campaign %s: reconciled %d stuck rows (%d at Twilio, %d freed)",
                 campaign_id, len(stuck), found, freed)  # fmt: skip
    return found, freed


def due_buckets(session: Session, campaign_id: int, bucket_size: int, now: datetime) -> list[int]:
    return sorted(
        session.scalars(
            select(T.c.id // bucket_size)
            .distinct()
            .where(
                T.c.campaign_id == campaign_id,
                T.c.status.in_(WAITING),
                (T.c.send_after.is_(None)) | (T.c.send_after <= now),
            )
        )
    )


def sweep(
    sessions: sessionmaker[Session],
    client: Client,
    enqueue: Callable[[int, list[int]], int],
    now: datetime,
    stuck_after: timedelta,
    bucket_size: int,
    relaunch: Callable[[int], object] = lambda campaign_id: None,
    quarantine: timedelta = timedelta(seconds=DEFAULT_QUARANTINE),
) -> SweepReport:
    """One pass over live campaigns; safe to run any time, from any number of workers.

    Resumes snapshots whose launch job was lost, reconciles rows stuck in `sending`, queues
    buckets with rows due, and completes campaigns with nothing left to send.
    """
    report = SweepReport()
    with sessions() as session:
        live = session.execute(
            select(
                Campaign.id,
                Campaign.status,
                Campaign.launched_at,
                Campaign.snapshotted_at,
                Campaign.channel,
            ).where(or_(Campaign.status.in_(LIVE), _answers_waiting))
        ).all()
    for campaign_id, status, launched_at, snapshotted_at, channel in live:
        if launched_at is not None and snapshotted_at is None and relaunch(campaign_id):
            report.relaunched.append(campaign_id)
        if channel == Channel.VOICE:
            continue  # calls, not texts: the voice sweeper (textbank.calls.reconcile) has them
        found, freed = reconcile_stuck(sessions, client, campaign_id, now, stuck_after, quarantine)
        report.reconciled_sent += found
        report.reset_to_pending += freed
        if status == CampaignStatus.PAUSED:
            continue
        with sessions.begin() as session:
            buckets = due_buckets(session, campaign_id, bucket_size, now)
            if not buckets and complete_if_done(session, campaign_id, now):
                report.completed.append(campaign_id)
        if buckets and enqueue(campaign_id, buckets):
            report.enqueued[campaign_id] = buckets
    return report
