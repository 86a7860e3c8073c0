"""A blast's rows in the database: claimed for sending, results recorded, campaign completed.

The sender (sender.py) does the talking to Twilio; these are the statements around it, each
safe against another worker claiming or a status callback landing at the same moment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    CursorResult,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from textbank.compliance.optouts import opt_out_member
from textbank.compliance.quiet_hours import SendWindow, WindowCheck, check, validity_seconds
from textbank.db import among, dialect_name
from textbank.engagement.marks import Step, mark, mark_accepted
from textbank.members.phones import time_zones
from textbank.models import (
    Campaign,
    CampaignStatus,
    Member,
    OptOutSource,
    OutboundMessage,
    is_first_text,
    table,
)
from textbank.twilio.codes import TWILIO_STATUS, UNFINISHED, UNSUBSCRIBED, WAITING, MessageStatus

log = logging.getLogger(__name__)
T = table(OutboundMessage)

ENDED_AS = {"failed": MessageStatus.FAILED, "skipped": MessageStatus.SKIPPED}


@dataclass
class Claimed:
    id: int
    member_id: int
    phone: str
    body: str
    validity: int
    compliance: bool = False  # goes to an opted-out member: see OutboundMessage.compliance


@dataclass
class Outcome:
    row: Claimed
    kind: str  # sent | failed | skipped | retry (nothing reached Twilio) | unknown
    sid: str | None = None
    twilio_status: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    attempted_at: datetime | None = None  # an unknown outcome's attempt began then
    retry_after: float = 0.0  # seconds a retried row waits before it is claimed again


SENDING_STATES = (CampaignStatus.SENDING, CampaignStatus.LAUNCHING)


def claim(
    session: Session, campaign_id: int, bucket_range: tuple[int, int], window: SendWindow,
    limit: int, now: datetime,
) -> list[Claimed]:  # fmt: skip
    """Move due rows of the bucket from waiting to sending; only one worker gets each row.

    Nothing while the campaign is not sending (paused, cancelled).
    """
    lo, hi = bucket_range
    in_bucket = and_(T.c.campaign_id == campaign_id, T.c.id.between(lo, hi))
    # The opt-out list is checked again here, at send time, not only at launch; a
    # compliance text (an opt-out's confirmation) is the one text it lets through.
    session.execute(
        update(T)
        .where(
            in_bucket,
            T.c.status.in_(WAITING),
            T.c.compliance.is_(False),
            T.c.member_id.in_(select(Member.id).where(Member.opted_out_at.is_not(None))),
        )
        .values(status=MessageStatus.SKIPPED, error_message="opted out before sending",
                updated_at=now)
    )  # fmt: skip
    # A paused or finished campaign sends nothing more, but still confirms an opt-out; a
    # finished one still answers its members' replies (a keyword's thanks, a volunteer's
    # text) and stays finished. A paused one holds those too until it is resumed.
    sending = or_(
        T.c.compliance.is_(True),
        exists().where(Campaign.id == campaign_id, Campaign.status.in_(SENDING_STATES)),
        and_(
            answers_reply(T),
            exists().where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.COMPLETED),
        ),
    )
    candidates = session.execute(
        select(T.c.id, T.c.member_id, T.c.phone, T.c.body, T.c.compliance)
        .where(in_bucket, T.c.status.in_(WAITING), sending,
               or_(T.c.send_after.is_(None), T.c.send_after <= now))
        .order_by(T.c.id)
        .limit(limit)
        .with_for_update(of=T, skip_locked=True)
    ).all()  # fmt: skip
    validity: dict[int, int] = {}
    due = []
    deferrals = []
    gates: dict[tuple[str, ...], WindowCheck] = {}
    for row in candidates:
        zones = time_zones(row.phone)
        gate = gates.get(zones) or gates.setdefault(zones, check(window, zones, now))
        if gate.open:
            validity[row.id] = validity_seconds(gate, now)
            due.append(row)
        else:
            deferrals.append({"row_id": row.id, "opens": gate.opens_at})
    if deferrals:
        session.execute(
            update(T)
            # Spelled out: an IN's expanding parameter cannot go with executemany().
            .where(T.c.id == bindparam("row_id"), or_(*(T.c.status == s for s in WAITING)))
            .values(status=MessageStatus.DEFERRED, send_after=bindparam("opens"), updated_at=now),
            deferrals,
        )
    if not due:
        return []
    # The rows are locked (FOR UPDATE above) until this transaction ends: no one else can
    # have moved them, so what was read is what is claimed.
    session.execute(
        update(T)
        .where(among(T.c.id, validity, dialect_name(session)))
        .values(status=MessageStatus.SENDING, claimed_at=now, attempted_at=None,
                attempts=T.c.attempts + 1, updated_at=now)
    )  # fmt: skip
    return [Claimed(r.id, r.member_id, r.phone, r.body, validity[r.id], r.compliance) for r in due]


def _record_sent(row_id, sid, tstatus, new_status):
    """A sent row takes its SID and status, unless a callback already moved it on."""
    sending = T.c.status == MessageStatus.SENDING
    return (
        update(T)
        .where(T.c.id == row_id)
        .values(
            twilio_sid=func.coalesce(T.c.twilio_sid, sid),
            sent_at=func.coalesce(T.c.sent_at, bindparam("now")),
            twilio_status=case((sending, tstatus), else_=T.c.twilio_status),
            status=case((sending, new_status), else_=T.c.status),
            updated_at=bindparam("now"),
        )
    )


_RECORD_SENT = _record_sent(
    bindparam("row_id"), bindparam("sid"), bindparam("tstatus"), bindparam("new_status")
)
# PostgreSQL: a chunk's rows as four arrays, one statement, instead of a statement per row.
_SENT = (
    func.unnest(
        bindparam("row_ids", type_=ARRAY(Integer)), bindparam("sids", type_=ARRAY(String)),
        bindparam("tstatuses", type_=ARRAY(String)), bindparam("statuses", type_=ARRAY(String)),
    )
    .table_valued(column("row_id", Integer), column("sid", String), column("tstatus", String),
                  column("status", String))
    .render_derived(name="sent")
)  # fmt: skip
_RECORD_SENT_ARRAYS = _record_sent(_SENT.c.row_id, _SENT.c.sid, _SENT.c.tstatus, _SENT.c.status)


def record(session: Session, outcomes: list[Outcome], now: datetime, redis_client=None) -> None:
    """Write send results; never moves a row backwards (a callback may have beaten us)."""
    sending = T.c.status == MessageStatus.SENDING
    sent = [o for o in outcomes if o.kind == "sent"]
    if sent:
        rows = [(o.row.id, o.sid, o.twilio_status,
                 str(TWILIO_STATUS.get(o.twilio_status or "", MessageStatus.SENT)))
                for o in sent]  # fmt: skip
        if dialect_name(session) == "postgresql":
            ids, sids, tstatuses, statuses = (list(c) for c in zip(*rows, strict=True))
            session.execute(
                _RECORD_SENT_ARRAYS,
                {
                    "row_ids": ids,
                    "sids": sids,
                    "now": now,
                    "tstatuses": tstatuses,
                    "statuses": statuses,
                },
            )
        else:
            session.execute(_RECORD_SENT, [
                {"row_id": i, "sid": sid, "tstatus": t, "new_status": st, "now": now}
                for i, sid, t, st in rows
            ])  # fmt: skip
    ended = [o for o in outcomes if o.kind in ("failed", "skipped")]
    if ended:
        session.execute(
            update(T)
            .where(T.c.id == bindparam("row_id"), sending)
            .values(status=bindparam("new_status"), error_code=bindparam("code"),
                    error_message=bindparam("message"), updated_at=now),
            [
                {"row_id": o.row.id, "code": o.error_code, "message": (o.error_message or "")[:300],
                 "new_status": ENDED_AS[o.kind]}
                for o in ended
            ],
        )  # fmt: skip
    retried = [o for o in outcomes if o.kind == "retry"]
    if retried:  # nothing reached Twilio: waiting again, for this job or the sweeper
        session.execute(
            update(T)
            .where(T.c.id == bindparam("row_id"), sending)
            .values(status=MessageStatus.PENDING, claimed_at=None, send_after=bindparam("after"),
                    error_message=bindparam("message"), updated_at=now),
            [{"row_id": o.row.id, "message": (o.error_message or "")[:300],
              "after": now + timedelta(seconds=o.retry_after) if o.retry_after else None}
             for o in retried],
        )  # fmt: skip
    unknown = [o for o in outcomes if o.kind == "unknown"]
    if unknown:  # still `sending`: the sweeper looks for it once its quarantine has passed
        session.execute(
            update(T)
            .where(T.c.id == bindparam("row_id"), sending)
            .values(attempted_at=bindparam("attempted"), error_message=bindparam("message"),
                    updated_at=now),
            [{"row_id": o.row.id, "attempted": o.attempted_at or now,
              "message": (o.error_message or "")[:300]} for o in unknown],
        )  # fmt: skip
    mark_accepted(
        session,
        (
            (o.row.member_id, TWILIO_STATUS.get(o.twilio_status or "", MessageStatus.SENT))
            for o in sent
        ),
        now,
    )
    mark(session, (o.row.member_id for o in outcomes if o.kind == "failed"), Step.FAILED, now)
    for o in outcomes:
        if o.kind == "failed" and o.error_code == UNSUBSCRIBED:
            opt_out_member(session, o.row.member_id, OptOutSource.CARRIER, now, redis_client,
                           o.row.phone)  # fmt: skip


def any_unfinished(session: Session | Connection, campaign_id: int) -> bool:
    # EXISTS, not a count: every send job asks, and mid-blast a count walks every row
    # still waiting (100 jobs of a 100,000-member blast: ~5 million index entries).
    return bool(
        session.scalar(
            select(exists().where(T.c.campaign_id == campaign_id, T.c.status.in_(UNFINISHED)))
        )
    )


def complete_if_done(session: Session | Connection, campaign_id: int, now: datetime) -> bool:
    """Mark a sending campaign completed once no row is waiting or in flight."""
    if any_unfinished(session, campaign_id):
        return False
    done = cast(
        CursorResult,
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.status == CampaignStatus.SENDING,
                Campaign.snapshotted_at.is_not(None),  # a resumed launch may still be snapshotting
            )
            .values(status=CampaignStatus.COMPLETED, completed_at=now)
        ),
    ).rowcount
    if done:
        log.info("campaign %s completed", campaign_id)
    return bool(done)


def answers_reply(t) -> ColumnElement[bool]:
    """A text answering a member's reply (a volunteer's, a keyword's thanks), on the table
    or class `t`: sent for a completed campaign too, which stays completed."""
    return not_(is_first_text(t))
