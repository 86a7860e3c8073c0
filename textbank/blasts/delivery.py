"""Delivery reports from Twilio: move a message forward, never back."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import cast

import redis
from sqlalchemy import Connection, CursorResult, Row, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from textbank.blasts.outbox import complete_if_done
from textbank.compliance.optouts import opt_out_member
from textbank.engagement.marks import mark_accepted, mark_member, steps_for
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
    if row_id is not None:
        # Nearly every callback moves its row forward: one statement does it, checking in
        # its WHERE what the read below checks, and says whose row it was. Two callbacks
        # per text, so this is most of the web's work in a blast or a shift.
        with_error = error_code is not None and RANK[status] >= RANK[MessageStatus.DELIVERED]
        moved_row = session.connection().execute(
            _forward(status, with_error),
            {"row_id": row_id, "sid": sid, "tw_status": twilio_status, "at": now,
             "code": error_code},
        ).first()  # fmt: skip
        if moved_row is not None:
            _moved(session, moved_row.member_id, moved_row.phone, status, error_code, now,
                   redis_client)  # fmt: skip
            _finish_if_it_waited(session, moved_row, now)
            return True
    # Not moved: a duplicate, a stale or reordered report, or one about no row of ours.
    where = T.c.id == row_id if row_id is not None else T.c.twilio_sid == sid
    row = session.execute(
        select(
            T.c.id,
            T.c.member_id,
            T.c.phone,
            T.c.twilio_sid,
            T.c.attempts,
            T.c.campaign_id,
            T.c.attempted_at,
        ).where(where)
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
        _finish_if_it_waited(session, row, now)
    if error_code == UNSUBSCRIBED:
        opt_out_member(session, row.member_id, OptOutSource.CARRIER, now, redis_client, row.phone)
    return bool(moved)


def forward(conn: Connection, *, row_id: int, sid: str, twilio_status: str, now: datetime) -> bool:
    """The common report, without an error code, on a bare connection (see fast_status):
    True if the row moved forward and its member was marked; False if nothing was written,
    and apply_status is to decide what the report is."""
    status = TWILIO_STATUS.get(twilio_status)
    if status is None:
        return False
    moved = conn.execute(
        _forward(status, False),
        {"row_id": row_id, "sid": sid, "tw_status": twilio_status, "at": now, "code": None},
    ).first()
    if moved is None:
        return False
    mark_member(conn, moved.member_id, steps_for(status), now)
    _finish_if_it_waited(conn, moved, now)
    return True


def already_there(conn: Connection, *, row_id: int, sid: str, twilio_status: str) -> bool:
    """True if a report without an error code would move nothing, write nothing and have
    nothing to learn: its row is ours, claimed, already knows this SID and stands at or past
    the status reported (a duplicate, or "sent" arriving after "delivered"). apply_status
    would read the row, try two UPDATEs that touch nothing and answer as for any report;
    this is its one read. False for anything else, which apply_status is to decide."""
    status = TWILIO_STATUS.get(twilio_status)
    if status is None:
        return False
    at_or_past = tuple(s for s, rank in RANK.items() if rank >= RANK[status])
    there = conn.execute(
        select(T.c.id).where(
            T.c.id == row_id, T.c.twilio_sid == sid, T.c.attempts > 0, T.c.status.in_(at_or_past)
        )
    ).first()
    return there is not None


def _finish_if_it_waited(conn: Session | Connection, moved: Row, now: datetime) -> None:
    """Complete the campaign if this report settled a text whose outcome was unknown."""
    # attempted_at is set only on a text the worker could not tell was sent (quarantined);
    # its campaign's last send job may have ended already, so the report that settles it,
    # not a later sweep, is what finishes the campaign. Every other report skips this.
    if moved.attempted_at is not None:
        complete_if_done(conn, moved.campaign_id, now)


@cache
def _forward(status: MessageStatus, with_error: bool):
    """UPDATE moving one claimed row (attempts > 0: see below) of this SID to `status`, if
    that is forward, RETURNING its member; built once per status, not per callback."""
    values = {
        "status": status,
        "twilio_status": bindparam("tw_status"),
        "twilio_sid": func.coalesce(T.c.twilio_sid, bindparam("sid", type_=T.c.twilio_sid.type)),
        "updated_at": bindparam("at"),
    }
    if status == MessageStatus.DELIVERED:
        values["delivered_at"] = bindparam("at")
    if with_error:
        values["error_code"] = bindparam("code")
    return (
        update(T)
        .where(
            T.c.id == bindparam("row_id"),
            T.c.status.in_(lower_ranked(status)),
            T.c.attempts > 0,
            or_(T.c.twilio_sid.is_(None), T.c.twilio_sid == bindparam("sid")),
        )
        .values(values)
        .returning(T.c.member_id, T.c.phone, T.c.campaign_id, T.c.attempted_at)
    )


def _moved(
    session: Session, member_id: int, phone: str, status: MessageStatus,
    error_code: int | None, now: datetime, redis_client: redis.Redis | None,
) -> None:  # fmt: skip
    mark_member(session.connection(), member_id, steps_for(status), now)
    if error_code == UNSUBSCRIBED:
        opt_out_member(session, member_id, OptOutSource.CARRIER, now, redis_client, phone)
