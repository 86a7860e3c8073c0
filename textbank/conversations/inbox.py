"""Lists of conversations: a volunteer's inbox, the pool, and the API's filtered pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from textbank.conversations.threads import POOL_RULE, is_manager, visible_to, waiting
from textbank.members.fields import FieldError, normalize_language
from textbank.models import (
    Campaign,
    Conversation,
    ConversationStatus,
    InboundMessage,
    Local,
    Member,
    User,
)
from textbank.values import BadValue, optional_id, record_id

MAX_LIMIT = 200


class InboxArgsError(ValueError):
    """A filter that cannot be read; the message names it."""


@dataclass
class InboxFilter:
    campaign_id: int | None = None
    local: str | None = None
    status: str | None = None  # open | closed | waiting
    assigned: str | None = None  # me | none | any | a user id
    language: str | None = None
    limit: int = 50
    after: int | None = None  # cursor: the last id of the previous page
    search: str | None = None

    @classmethod
    def from_args(cls, args) -> InboxFilter:
        def number(name: str) -> int | None:
            try:
                return optional_id(args.get(name), name)
            except BadValue as exc:
                raise InboxArgsError(str(exc)) from exc

        f = cls(campaign_id=number("campaign"), after=number("after"))
        limit = number("limit")
        f.limit = 50 if limit is None else limit
        if not 1 <= f.limit <= MAX_LIMIT:
            raise InboxArgsError(f"limit must be from 1 to {MAX_LIMIT}")
        f.local = (args.get("local") or "").strip().lstrip("#") or None
        status = args.get("status") or None
        if status not in (None, "open", "closed", "waiting"):
            raise InboxArgsError(f"status must be open, closed or waiting, got {status!r}")
        f.status = status
        assigned = args.get("assigned") or None
        if assigned not in (None, "me", "none", "any"):
            try:
                record_id(assigned, "assigned")
            except BadValue as exc:
                raise InboxArgsError(f"assigned must be me, none, any or a user id: {exc}") from exc
        f.assigned = assigned
        if args.get("language"):
            try:
                f.language = normalize_language(args["language"])
            except FieldError as exc:
                raise InboxArgsError(f"language: {exc}") from exc
        search = (args.get("q") or "").strip()
        if len(search) > 200:
            raise InboxArgsError("q is longer than 200 characters")
        f.search = search or None
        return f


@dataclass
class Summary:
    """A conversation in a list: who (never their phone), where, and what they said last."""

    id: int
    campaign_id: int | None
    campaign: str | None
    first_name: str
    local: str | None
    language: str | None
    status: str
    volunteer_id: int | None
    waiting: bool
    last_message_at: datetime
    last_text: str
    created_at: datetime
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "campaign_id": self.campaign_id, "campaign": self.campaign,
            "first_name": self.first_name, "local": self.local, "language": self.language,
            "status": self.status, "assigned_to": self.volunteer_id, "waiting": self.waiting,
            "last_message_at": self.last_message_at.isoformat(), "last_text": self.last_text,
            "created_at": self.created_at.isoformat(),
        }  # fmt: skip


def _last_text():
    return (
        select(InboundMessage.body)
        .where(InboundMessage.conversation_id == Conversation.id)
        .order_by(InboundMessage.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _summaries_query():
    return (
        select(Conversation, Member.first_name, Member.language, Local.number, Campaign.name,
               _last_text().label("last_text"))
        .outerjoin(Member, Member.id == Conversation.member_id)
        .outerjoin(Local, Local.id == Member.local_id)
        .outerjoin(Campaign, Campaign.id == Conversation.campaign_id)
    )  # fmt: skip


def _summaries(rows) -> list[Summary]:
    return [
        Summary(c.id, c.campaign_id, name, first or "", local, language, c.status,
                c.volunteer_id, waiting(c), c.last_message_at, last or "", c.created_at)
        for c, first, language, local, name, last in rows
    ]  # fmt: skip


def conversations(session: Session, user: User, f: InboxFilter) -> tuple[list[Summary], int | None]:
    """One page of the conversations this user may see, newest activity first within open."""
    query = _summaries_query()
    rule = visible_to(user)
    if rule is not None:
        query = query.where(rule)
    if f.campaign_id is not None:
        query = query.where(Conversation.campaign_id == f.campaign_id)
    if f.local:
        query = query.where(Local.number == f.local)
    if f.language:
        query = query.where(Member.language == f.language)
    if f.status in ("open", "waiting"):
        query = query.where(Conversation.status == ConversationStatus.OPEN)
    elif f.status == "closed":
        query = query.where(Conversation.status == ConversationStatus.CLOSED)
    if f.status == "waiting":
        query = query.where(
            Conversation.answered_at.is_(None)
            | (Conversation.answered_at < Conversation.last_message_at)
        )
    if f.assigned == "me":
        query = query.where(Conversation.volunteer_id == user.id)
    elif f.assigned == "none":
        query = query.where(Conversation.volunteer_id.is_(None))
    elif f.assigned and f.assigned.isdigit():
        query = query.where(Conversation.volunteer_id == int(f.assigned))
    if f.search:
        pattern = "%" + f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            Conversation.id.in_(
                select(InboundMessage.conversation_id).where(
                    InboundMessage.body.ilike(pattern, escape="\\")
                )
            )
        )
    if f.after is not None:
        query = query.where(Conversation.id < f.after)
    rows = session.execute(query.order_by(Conversation.id.desc()).limit(f.limit + 1)).all()
    more = len(rows) > f.limit
    out = _summaries(rows[: f.limit])
    return out, (out[-1].id if more and out else None)


@cache
def _console_list(which: str, limit: int):
    """The console's lists as conversations() would filter them, built once: a live inbox
    renders both for every reply. "mine" (the user's open ones, a user_id parameter),
    "pool" (open, nobody's, that volunteers may take) and "unheld" (a manager's pool)."""
    query = _summaries_query().where(Conversation.status == ConversationStatus.OPEN)
    if which == "mine":
        query = query.where(Conversation.volunteer_id == bindparam("user_id"))
    elif which == "pool":
        query = query.where(POOL_RULE)
    else:
        query = query.where(Conversation.volunteer_id.is_(None))
    return query.order_by(Conversation.id.desc()).limit(limit)


def inbox(session: Session, user: User, limit: int = 100) -> list[Summary]:
    """A console's list: the user's open conversations, those waiting for an answer first."""
    mine = _summaries(session.execute(_console_list("mine", limit), {"user_id": user.id}))
    mine.sort(key=lambda s: (not s.waiting, -s.last_message_at.timestamp()))
    return mine


def pool(session: Session, user: User, limit: int = 50) -> list[Summary]:
    """Open conversations nobody holds that this user may take, oldest waiting first."""
    found = _summaries(session.execute(_console_list("unheld" if is_manager(user) else "pool",
                                                     limit)))  # fmt: skip
    found.sort(key=lambda s: s.last_message_at)
    return found


def waiting_counts(session: Session) -> dict:
    """For the supervisor: conversations waiting for an answer, and the oldest wait."""
    is_waiting = (Conversation.status == ConversationStatus.OPEN) & (
        Conversation.answered_at.is_(None)
        | (Conversation.answered_at < Conversation.last_message_at)
    )
    count, oldest, unassigned = session.execute(
        select(
            func.count(),
            func.min(Conversation.last_message_at),
            func.count().filter(Conversation.volunteer_id.is_(None)),
        ).where(is_waiting)
    ).one()
    return {"waiting": count, "oldest": oldest, "unassigned": unassigned}
