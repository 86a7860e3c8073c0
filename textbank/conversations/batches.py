"""Batches of P2P first texts: handed out atomically, shown one member at a time, released."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from textbank.compliance.quiet_hours import SendWindow, check_remembered
from textbank.conversations.sql import OUT, affected
from textbank.db import among, dialect_name
from textbank.members.phones import time_zones
from textbank.models import (
    Campaign,
    CampaignMode,
    CampaignStatus,
    Local,
    Member,
    User,
    table,
)
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)
T = OUT
HELD = MessageStatus.HELD.value


class BatchError(ValueError):
    """A batch that cannot be handed out; the message says why, for the volunteer."""


@dataclass(frozen=True)
class Batch:
    campaign_id: int
    assigned: int  # handed out by this request
    holding: int  # first texts the volunteer now holds in this campaign
    already_held: bool = False


def open_campaigns(session: Session) -> list[Campaign]:
    """P2P campaigns volunteers can text in now."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.mode == CampaignMode.P2P, Campaign.status == CampaignStatus.SENDING)
            .order_by(Campaign.id.desc())
        )
    )


def p2p_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.mode != CampaignMode.P2P:
        raise LookupError(f"no P2P campaign {campaign_id}")
    return campaign


def holding(session: Session, volunteer_id: int, campaign_id: int) -> int:
    """First texts this volunteer holds and has not sent yet in this campaign."""
    count = session.scalar(
        select(func.count()).where(
            T.c.volunteer_id == volunteer_id, T.c.campaign_id == campaign_id, T.c.status == HELD,
            T.c.conversation_id.is_(None),
        )
    )  # fmt: skip
    return count or 0


def _take(session: Session, volunteer_id: int, campaign_id: int, wanted: int, languages,
          preferred: bool, now: datetime) -> int:  # fmt: skip
    """Assign up to `wanted` unheld first texts, in the volunteer's languages or the others.

    PostgreSQL: the rows are picked FOR UPDATE SKIP LOCKED, so volunteers asking at the same
    moment each get rows no one else is taking, without waiting on one another. SQLite:
    the transaction began IMMEDIATE (see db.make_engine), so a batch is picked and assigned
    while holding the database's write lock; no one else can pick in between.
    """
    in_pool = and_(T.c.campaign_id == campaign_id, T.c.status == HELD, T.c.volunteer_id.is_(None))
    speaks = T.c.language.in_(languages) if languages else None
    pick = select(T.c.id).where(in_pool)
    if speaks is not None:
        pick = pick.where(speaks if preferred else ~speaks)
    elif not preferred:
        return 0
    pick = pick.order_by(T.c.id).limit(wanted)
    dialect = dialect_name(session)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    # Read, then write by id: inside `IN (subquery)` PostgreSQL may rescan a SKIP LOCKED
    # subquery once per row, skipping the rows it just locked and so taking the whole pool.
    ids = list(session.scalars(pick))
    if not ids:
        return 0
    return affected(
        session.execute(
            update(T)
            .where(among(T.c.id, ids, dialect), in_pool)
            .values(volunteer_id=volunteer_id, assigned_at=now, updated_at=now)
        )
    )


def request_batch(session: Session, user: User, campaign_id: int, now: datetime) -> Batch:
    """Hand the volunteer a batch of first texts; one batch per campaign at a time."""
    campaign = p2p_campaign(session, campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        raise BatchError(f"{campaign.name} is {campaign.status}: no texts to hand out now")
    # One request per volunteer at a time: a double click must not take two batches.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    held = holding(session, user.id, campaign_id)
    if held:
        return Batch(campaign_id, 0, held, already_held=True)
    wanted = campaign.batch_size
    languages = [str(lang) for lang in (user.languages or [])]
    got = _take(session, user.id, campaign_id, wanted, languages, True, now)
    if got < wanted:
        got += _take(session, user.id, campaign_id, wanted - got, languages, False, now)
    log.info("campaign %s: volunteer %s took a batch of %d", campaign_id, user.id, got)
    return Batch(campaign_id, got, got)


def release_batch(session: Session, volunteer_id: int, campaign_id: int, now: datetime) -> int:
    """Done for today: the unsent first texts go back to the pool for anyone."""
    released = affected(session.execute(
        update(T)
        .where(T.c.volunteer_id == volunteer_id, T.c.campaign_id == campaign_id,
               T.c.status == HELD, T.c.conversation_id.is_(None))
        .values(volunteer_id=None, assigned_at=None, updated_at=now)
    ))  # fmt: skip
    log.info("campaign %s: volunteer %s released %d", campaign_id, volunteer_id, released)
    return released


@dataclass(frozen=True)
class Card:
    """The next member to text, as a volunteer sees them: never their phone number."""

    row_id: int
    first_name: str
    local: str | None
    language: str
    body: str
    segments: int
    opens_at: datetime | None  # outside the member's hours: when they can be texted
    remaining: int


LOOKAHEAD = 50  # rows read to find one inside its member's hours


_MEMBER, _LOCAL, _CAMPAIGN = table(Member), table(Local), table(Campaign)
_MINE_HELD = and_(T.c.volunteer_id == bindparam("volunteer_id"),
                  T.c.campaign_id == bindparam("campaign_id"), T.c.status == HELD,
                  T.c.conversation_id.is_(None))  # fmt: skip
# Built once: a Send runs these on every press, and building a statement cost more CPU
# than PostgreSQL spends running it. Core, not the ORM: plain rows are all they return.
_NEXT = (
    select(T.c.id, T.c.phone, T.c.body, T.c.language, T.c.segments, _MEMBER.c.first_name,
           _LOCAL.c.number, func.count().over().label("remaining"))
    .join(_MEMBER, _MEMBER.c.id == T.c.member_id)
    .outerjoin(_LOCAL, _LOCAL.c.id == _MEMBER.c.local_id)
    .where(_MINE_HELD)
    .order_by(T.c.id)
    .limit(LOOKAHEAD)
)  # fmt: skip


def next_card(
    session: Session, volunteer_id: int, campaign_id: int, window: SendWindow, now: datetime
) -> Card | None:
    """The next held first text the volunteer can send now; else the one that opens soonest.

    One statement: the rows looked at and, beside each, how many the volunteer holds in all
    (a window count, taken before the LIMIT). A Send shows the next card on every press.
    """
    rows = session.connection().execute(
        _NEXT, {"volunteer_id": volunteer_id, "campaign_id": campaign_id}
    )
    later = None
    for row in rows:
        gate = check_remembered(window, time_zones(row.phone), now)
        card = Card(row.id, row.first_name, row.number, row.language, row.body, row.segments,
                    None if gate.open else gate.opens_at, row.remaining)  # fmt: skip
        if gate.open:
            return card
        if later is None or (card.opens_at and later.opens_at and card.opens_at < later.opens_at):
            later = card
    return later


@dataclass(frozen=True)
class Sent:
    outcome: str  # queued | already | opted_out | closed | paused
    row_id: int
    campaign_id: int
    opens_at: datetime | None = None


_PRESSED = (
    select(T.c.id, T.c.campaign_id, T.c.phone, T.c.status, T.c.volunteer_id,
           _MEMBER.c.opted_out_at, _CAMPAIGN.c.status.label("campaign_status"),
           _CAMPAIGN.c.mode.label("campaign_mode"))
    .join(_MEMBER, _MEMBER.c.id == T.c.member_id)
    .join(_CAMPAIGN, _CAMPAIGN.c.id == T.c.campaign_id)
    .where(T.c.id == bindparam("row_id"), T.c.conversation_id.is_(None))
)  # fmt: skip
_USER = table(User)
# The pressed row as _PRESSED reads it, and beside it what the web's sign-in checks read of
# the volunteer holding it (consoles.fast_send): a press checks both in one statement.
_PRESSED_BY_HOLDER = _PRESSED.add_columns(
    _USER.c.active.label("holder_active"), _USER.c.role.label("holder_role"),
    _USER.c.sessions_valid_after.label("holder_sessions_valid_after"),
).outerjoin(_USER, _USER.c.id == T.c.volunteer_id)  # fmt: skip
_MINE = ((T.c.id == bindparam("row_id")) & (T.c.volunteer_id == bindparam("holder"))
         & (T.c.status == HELD))  # fmt: skip
_RELEASE = update(T).where(_MINE).values(status=MessageStatus.PENDING, send_after=None,
                                         updated_at=bindparam("at"))  # fmt: skip
_OPTED_OUT = (
    update(T)
    .where(_MINE)
    .values(
        status=MessageStatus.SKIPPED,
        updated_at=bindparam("at"),
        error_message="opted out before sending",
    )
)


def pressed(session: Session, row_id: int) -> Row | None:
    """The row a Send pressed, as send_first reads it, with its holder's account (active,
    role, sessions_valid_after as holder_*); None for no such first text."""
    return session.connection().execute(_PRESSED_BY_HOLDER, {"row_id": row_id}).first()


def send_first(
    session: Session, volunteer_id: int, row_id: int, window: SendWindow, now: datetime,
    campaign_id: int | None = None, row: Row | None = None,
) -> Sent:  # fmt: skip
    """One press of Send: release this one held first text to the send pipeline.

    Only a row the volunteer holds (in `campaign_id`, when given) and has not sent; a
    second press finds it sent and does nothing. The pipeline's worker checks the opt-out
    list and the member's hours again at sending time, paces it by the shared rate limit
    and records it exactly once. `row`: the row as `pressed` read it in this transaction,
    not read again.
    """
    conn = session.connection()
    if row is None:
        row = conn.execute(_PRESSED, {"row_id": row_id}).first()
    if (row is None or row.volunteer_id != volunteer_id or row.campaign_mode != CampaignMode.P2P
            or (campaign_id is not None and row.campaign_id != campaign_id)):  # fmt: skip
        raise LookupError(f"first text {row_id} is not one of yours")
    if row.status != HELD:
        return Sent("already", row_id, row.campaign_id)
    if row.campaign_status != CampaignStatus.SENDING:
        return Sent("paused", row_id, row.campaign_id)
    mine = {"row_id": row_id, "holder": volunteer_id, "at": now}
    if row.opted_out_at is not None:
        conn.execute(_OPTED_OUT, mine)
        return Sent("opted_out", row_id, row.campaign_id)
    gate = check_remembered(window, time_zones(row.phone), now)
    if not gate.open:
        return Sent("closed", row_id, row.campaign_id, gate.opens_at)
    moved = affected(conn.execute(_RELEASE, mine))
    return Sent("queued" if moved else "already", row_id, row.campaign_id)
