"""Delivery reports from Twilio: move a message forward, never back."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

import redis
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from textbank.compliance.optouts import opt_out_member
from textbank.engagement.marks import mark_accepted
from textbank.models import OptOutSource, OutboundMessage, table
from textbank.twilio.codes import RANK, TWILIO_STATUS, UNSUBSCRIBED, MessageStatus, lower_ranked

log = logging.getLogger(__name__)

T = table(OutboundMessage)


def apply_status(
    session: Session,
    *,
    row_id: int | None,
    sid: str,
    twilio_status: str,
    error_code: int | None,
    now: datetime,
    redis_client: redis.Redis | None = None,
) -> bool:
    """Record a status callback; True if the row moved. Duplicates and stale ones are no-ops."""
    status = TWILIO_STATUS.get(twilio_status)
    if status is None:
        log.info("message %s: ignoring unknown Twilio status %r", sid, twilio_status)
        return False
    where = T.c.id == row_id if row_id is not None else T.c.twilio_sid == sid
    row = session.execute(
        select(T.c.id, T.c.member_id, T.c.phone, T.c.twilio_sid, T.c.attempts).where(where)
    ).first()
    if row is None or (row.twilio_sid not in (None, sid)):
        log.warning("status callback for unknown message %s (row %s)", sid, row_id)
        return False
    if row.attempts == 0:
        # No worker has claimed this row, so Twilio cannot have its callback URL: the
        # report is about some other message (a restored database reusing ids, a stale
        # URL). Taken, it would mark a member texted who never was, and the row unsent.
        log.warning("status callback %s for row %s, which was never sent", sid, row.id)
        return False
    values = {
        "status": status,
        "twilio_status": twilio_status,
        "twilio_sid": func.coalesce(T.c.twilio_sid, sid),
        "updated_at": now,
    }
    if status == MessageStatus.DELIVERED:
        values["delivered_at"] = now
    if error_code is not None and RANK[status] >= RANK[MessageStatus.DELIVERED]:
        values["error_code"] = error_code
    moved = cast(
        CursorResult,
        session.execute(
            update(T).where(T.c.id == row.id, T.c.status.in_(lower_ranked(status))).values(**values)
        ),
    ).rowcount
    if not moved:
        # Still learn the SID if the callback beat the worker's own write.
        session.execute(
            update(T).where(T.c.id == row.id, T.c.twilio_sid.is_(None)).values(twilio_sid=sid)
        )
    if moved:
        mark_accepted(session, [(row.member_id, status)], now)
    if error_code == UNSUBSCRIBED:
        opt_out_member(session, row.member_id, OptOutSource.CARRIER, now, redis_client, row.phone)
    return bool(moved)
