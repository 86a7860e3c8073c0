"""The sweeper: finds work the queues lost (dead workers, a restarted Redis, deferred rows)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from textbank.blasts.outbox import complete_if_done
from textbank.engagement.marks import mark_accepted
from textbank.models import Campaign, CampaignStatus, OutboundMessage, table
from textbank.twilio.codes import TWILIO_STATUS, WAITING, MessageStatus

log = logging.getLogger(__name__)
T = table(OutboundMessage)


@dataclass
class SweepReport:
    reconciled_sent: int = 0
    reset_to_pending: int = 0
    enqueued: dict[int, list[int]] = field(default_factory=dict)
    completed: list[int] = field(default_factory=list)


def find_at_twilio(client: Client, phone: str, body: str, since: datetime):
    """A message to `phone` with this body created after `since`, if Twilio has one.

    Lists by recipient rather than by DateSent: a message still queued at Twilio has
    no date_sent yet and would slip through a date filter.
    """
    for message in client.messages.list(to=phone, limit=200, page_size=100):
        if message.body == body and (message.date_created is None or message.date_created >= since):
            return message
    return None


def reconcile_stuck(
    session: Session, client: Client, campaign_id: int, cutoff: datetime, now: datetime
) -> tuple[int, int]:
    """Resolve rows left in `sending` by a dead worker: record what Twilio has, free the rest."""
    stuck = session.execute(
        select(T.c.id, T.c.member_id, T.c.phone, T.c.body, T.c.claimed_at).where(
            T.c.campaign_id == campaign_id,
            T.c.status == MessageStatus.SENDING,
            T.c.claimed_at < cutoff,
        )
    ).all()
    found = freed = 0
    for row in stuck:
        try:
            message = find_at_twilio(
                client, row.phone, row.body, row.claimed_at - timedelta(minutes=5)
            )
        except TwilioRestException as exc:
            log.warning("message %s: cannot reconcile yet (%s)", row.id, exc)
            continue
        guard = (T.c.id == row.id) & (T.c.status == MessageStatus.SENDING)
        if message is not None:
            session.execute(
                update(T).where(guard).values(
                    status=TWILIO_STATUS.get(message.status, MessageStatus.SENT),
                    twilio_sid=message.sid, twilio_status=message.status,
                    sent_at=message.date_created or now, updated_at=now,
                )
            )  # fmt: skip
            status = TWILIO_STATUS.get(message.status, MessageStatus.SENT)
            mark_accepted(session, [(row.member_id, status)], now)
            found += 1
        else:
            session.execute(
                update(T).where(guard).values(status=MessageStatus.PENDING, claimed_at=None,
                                              updated_at=now)
            )  # fmt: skip
            freed += 1
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
) -> SweepReport:
    """One pass over sending campaigns; safe to run any time, from any number of workers."""
    report = SweepReport()
    with sessions() as session:
        campaign_ids = list(
            session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING))
        )
    for campaign_id in campaign_ids:
        with sessions.begin() as session:
            found, freed = reconcile_stuck(session, client, campaign_id, now - stuck_after, now)
            report.reconciled_sent += found
            report.reset_to_pending += freed
        with sessions.begin() as session:
            buckets = due_buckets(session, campaign_id, bucket_size, now)
            if not buckets and complete_if_done(session, campaign_id, now):
                report.completed.append(campaign_id)
        if buckets and enqueue(campaign_id, buckets):
            report.enqueued[campaign_id] = buckets
    return report
