"""The supervisor's numbers: who is texting, batches out, waits, and each volunteer's shift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from textbank.conversations.sql import OUT, affected
from textbank.conversations.threads import TAG_NOTE
from textbank.models import (
    Campaign,
    Conversation,
    ConversationStatus,
    InboundMessage,
    Member,
    Outcome,
    OutcomeSource,
    Role,
    User,
)
from textbank.twilio.codes import MessageStatus

T = OUT
SHIFT = timedelta(hours=12)  # a shift's counts: what each volunteer did in the last 12 hours


@dataclass
class VolunteerShift:
    user_id: int
    email: str
    online: bool
    held: int = 0  # first texts held, not sent yet
    sent: int = 0  # first texts sent this shift
    answered: int = 0  # replies sent this shift
    outcomes: int = 0  # outcomes tagged this shift
    open_conversations: int = 0


def shifts(session: Session, online: dict[int, float], now: datetime) -> list[VolunteerShift]:
    """Every volunteer online now or active this shift, with their counts."""
    since = now - SHIFT
    out: dict[int, VolunteerShift] = {}

    def row(user_id: int) -> VolunteerShift:
        if user_id not in out:
            out[user_id] = VolunteerShift(user_id, "", user_id in online)
        return out[user_id]

    for user_id in online:
        row(user_id)
    for user_id, held in session.execute(
        select(T.c.volunteer_id, func.count())
        .where(T.c.status == MessageStatus.HELD, T.c.volunteer_id.is_not(None))
        .group_by(T.c.volunteer_id)
    ):
        row(user_id).held = held
    for user_id, first, replies in session.execute(
        select(
            T.c.volunteer_id,
            func.count().filter(T.c.conversation_id.is_(None)),
            func.count().filter(T.c.conversation_id.is_not(None)),
        )
        .where(T.c.volunteer_id.is_not(None), T.c.updated_at >= since,
               T.c.status.not_in((MessageStatus.HELD, MessageStatus.SKIPPED)))
        .group_by(T.c.volunteer_id)
    ):  # fmt: skip
        if user_id is not None:
            row(user_id).sent, row(user_id).answered = first, replies
    for holder, n in session.execute(
        select(Conversation.volunteer_id, func.count())
        .where(Conversation.status == ConversationStatus.OPEN,
               Conversation.volunteer_id.is_not(None))
        .group_by(Conversation.volunteer_id)
    ):  # fmt: skip
        if holder is not None:
            row(holder).open_conversations = n
    for note, n in session.execute(
        select(Outcome.note, func.count())
        .where(Outcome.source == OutcomeSource.VOLUNTEER_TAG, Outcome.created_at >= since)
        .group_by(Outcome.note)
    ):
        if note and note.startswith(TAG_NOTE) and note[len(TAG_NOTE) :].isdigit():
            row(int(note[len(TAG_NOTE) :])).outcomes = n
    if out:
        for user_id, email in session.execute(
            select(User.id, User.email).where(User.id.in_(list(out)))
        ):
            out[user_id].email = email
    return sorted(out.values(), key=lambda s: (not s.online, s.email))


@dataclass
class BatchOut:
    campaign: str
    campaign_id: int
    email: str
    user_id: int
    held: int
    sent: int
    since: datetime | None


def batches_out(session: Session) -> list[BatchOut]:
    """Each volunteer's batch in each campaign: how much is sent, how much is left."""
    rows = session.execute(
        select(Campaign.name, Campaign.id, User.email, User.id,
               func.count().filter(T.c.status == MessageStatus.HELD),
               func.count().filter(T.c.status != MessageStatus.HELD), func.min(T.c.assigned_at))
        .select_from(T)
        .join(Campaign, Campaign.id == T.c.campaign_id)
        .join(User, User.id == T.c.volunteer_id)
        .where(T.c.conversation_id.is_(None))
        .group_by(Campaign.name, Campaign.id, User.email, User.id)
        .having(func.count().filter(T.c.status == MessageStatus.HELD) > 0)
        .order_by(Campaign.id, User.email)
    ).all()  # fmt: skip
    return [BatchOut(*r) for r in rows]


def search_replies(session: Session, words: str, limit: int = 50) -> list[dict]:
    """Replies whose text contains these words, newest first, with their conversation."""
    pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(
        select(InboundMessage.conversation_id, InboundMessage.body, InboundMessage.created_at,
               Member.first_name)
        .outerjoin(Member, Member.id == InboundMessage.member_id)
        .where(InboundMessage.body.ilike(pattern, escape="\\"),
               InboundMessage.conversation_id.is_not(None))
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    ).all()  # fmt: skip
    return [{"conversation_id": r[0], "body": r[1], "at": r[2], "first_name": r[3] or ""}
            for r in rows]  # fmt: skip


def people(session: Session) -> dict[str, list[tuple[int, str]]]:
    """Who can hold conversations, for the supervisor's pickers: active volunteers, then
    active managers and admins (they answer from the same inbox). Disabled accounts never."""
    found: dict[str, list[tuple[int, str]]] = {"volunteers": [], "managers": []}
    for user_id, email, role in session.execute(
        select(User.id, User.email, User.role).where(User.active.is_(True)).order_by(User.email)
    ):
        found["volunteers" if role == Role.VOLUNTEER else "managers"].append((user_id, email))
    return found


def release_contacts(session: Session, volunteer_id: int, now: datetime) -> dict:
    """Everything a volunteer holds goes back to the pool: unsent first texts, conversations."""
    texts = affected(
        session.execute(
            update(T)
            .where(T.c.volunteer_id == volunteer_id, T.c.status == MessageStatus.HELD)
            .values(volunteer_id=None, assigned_at=None, updated_at=now)
        )
    )
    conversations = affected(session.execute(
        update(Conversation)
        .where(Conversation.volunteer_id == volunteer_id,
               Conversation.status == ConversationStatus.OPEN)
        .values(volunteer_id=None, assigned_at=None)
    ))  # fmt: skip
    return {"first_texts": texts, "conversations": conversations}


def reassign_conversations(session: Session, from_id: int, to_id: int, now: datetime) -> int:
    """A volunteer's open conversations go to another volunteer (or manager)."""
    target = session.get(User, to_id)
    if target is None or not target.active or target.role not in (r.value for r in Role):
        raise LookupError(f"no active user {to_id}")
    return affected(session.execute(
        update(Conversation)
        .where(Conversation.volunteer_id == from_id,
               Conversation.status == ConversationStatus.OPEN)
        .values(volunteer_id=to_id, assigned_at=now)
    ))  # fmt: skip
