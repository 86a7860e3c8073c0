"""One conversation: who may open it, its thread, and what a volunteer does in it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session, lazyload

from textbank.campaigns.p2p import canned_text, outcomes_of
from textbank.campaigns.rendering import local_value, measure, render
from textbank.compliance.optouts import opt_out
from textbank.conversations.sql import OUT, affected
from textbank.db import upsert
from textbank.engagement.outcomes import record_outcome
from textbank.models import (
    Campaign,
    Conversation,
    ConversationStatus,
    InboundMessage,
    Local,
    Member,
    OptOutSource,
    OutcomeSource,
    Role,
    User,
    table,
)
from textbank.replies.keywords import sounds_like_opt_out
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)
T = OUT
MANAGERS = (Role.ADMIN, Role.MANAGER)
MAX_REPLY = 1600
TAG_NOTE = "tagged by user "  # the supervisor counts each volunteer's tags by this note


class ThreadError(ValueError):
    """An action the conversation cannot take; the message says why, for the volunteer."""


def is_manager(user: User) -> bool:
    return user.role in MANAGERS


# The pool: open conversations nobody holds, of members, in campaigns whose replies
# volunteers answer. Built once (see open_conversation).
POOL_RULE = (
    Conversation.volunteer_id.is_(None)
    & (Conversation.status == ConversationStatus.OPEN)
    & Conversation.member_id.is_not(None)
    & Conversation.campaign_id.in_(select(Campaign.id).where(Campaign.volunteer_replies.is_(True)))
)


def visible_to(user: User):
    """The conversations a user may open: managers all; volunteers theirs and the pool's."""
    if is_manager(user):
        return None
    return or_(Conversation.volunteer_id == user.id, POOL_RULE)


# A live inbox opens the conversation of every reply it is told of: built once, not per reply.
_ANY = select(Conversation).where(Conversation.id == bindparam("conversation_id"))
_VISIBLE = _ANY.where(or_(Conversation.volunteer_id == bindparam("user_id"), POOL_RULE))


def open_conversation(session: Session, user: User, conversation_id: int) -> Conversation:
    """The conversation, if this user may see it; LookupError otherwise (a 404: an id
    belonging to someone else's conversation says nothing about it)."""
    query = _ANY if is_manager(user) else _VISIBLE
    conversation = session.scalar(query, {"conversation_id": conversation_id,
                                          "user_id": user.id})  # fmt: skip
    if conversation is None:
        raise LookupError(f"no conversation {conversation_id}")
    return conversation


def take(session: Session, user: User, conversation: Conversation, now: datetime) -> None:
    """A volunteer working a pooled conversation holds it from now on."""
    if conversation.volunteer_id is None and conversation.status == ConversationStatus.OPEN:
        taken = affected(
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.volunteer_id.is_(None))
                .values(volunteer_id=user.id, assigned_at=now)
            )
        )
        session.refresh(conversation)
        if not taken and conversation.volunteer_id != user.id and not is_manager(user):
            raise LookupError(f"no conversation {conversation.id}")


@dataclass(frozen=True)
class Line:
    """One text of a thread, as the console shows it."""

    direction: str  # in | out
    body: str
    at: datetime
    status: str | None = None  # outbound: where it stands
    by_volunteer: bool = False  # a volunteer's reply in the conversation
    volunteer_id: int | None = None
    asks_to_stop: bool = False  # a member's text that reads like an opt-out no rule caught


@dataclass(frozen=True)
class Thread:
    conversation: Conversation
    first_name: str
    last_name: str
    local: str | None
    language: str
    opted_out: bool
    campaign: Campaign | None
    lines: list[Line]
    member: dict  # merge fields for canned responses and survey scripts

    @property
    def waiting(self) -> bool:
        return waiting(self.conversation)


def waiting(c: Conversation) -> bool:
    """Whether the member spoke last: the conversation waits for an answer."""
    return c.status == ConversationStatus.OPEN and (
        c.answered_at is None or c.answered_at < c.last_message_at
    )


def merge_fields(member: Member | None) -> dict:
    if member is None:
        return {}
    return {"first_name": member.first_name, "last_name": member.last_name,
            "local": local_value(member.local.name, member.local.number) if member.local else "",
            "worksite": member.worksite or ""}  # fmt: skip


IN, MEMBERS = table(InboundMessage), table(Member)
# Built once: a live inbox renders a thread's lines for every reply that arrives.
_IN_OF_MEMBER = select(IN.c.body, IN.c.created_at).where(
    IN.c.member_id == bindparam("member_id"), IN.c.campaign_id == bindparam("campaign_id")
)
_IN_OF_MEMBER_NO_CAMPAIGN = select(IN.c.body, IN.c.created_at).where(
    IN.c.member_id == bindparam("member_id"), IN.c.campaign_id.is_(None)
)
_IN_OF_CONVERSATION = select(IN.c.body, IN.c.created_at).where(
    IN.c.conversation_id == bindparam("conversation_id")
)
_OUT_OF_MEMBER = select(
    T.c.body, T.c.created_at, T.c.sent_at, T.c.status, T.c.conversation_id, T.c.volunteer_id
).where(T.c.member_id == bindparam("member_id"), T.c.campaign_id == bindparam("campaign_id"))


def lines_for(
    conn: Connection, conversation_id: int, campaign_id: int | None, member_id: int | None
) -> list[Line]:
    """Every text between us and this person in the conversation's campaign, oldest first."""
    if member_id is None:
        inbound = conn.execute(_IN_OF_CONVERSATION, {"conversation_id": conversation_id})
    elif campaign_id is None:
        inbound = conn.execute(_IN_OF_MEMBER_NO_CAMPAIGN, {"member_id": member_id})
    else:
        inbound = conn.execute(_IN_OF_MEMBER, {"member_id": member_id,
                                               "campaign_id": campaign_id})  # fmt: skip
    lines = [
        Line("in", r.body, r.created_at, asks_to_stop=sounds_like_opt_out(r.body)) for r in inbound
    ]
    if member_id is not None and campaign_id is not None:
        outbound = conn.execute(_OUT_OF_MEMBER, {"member_id": member_id,
                                                 "campaign_id": campaign_id})  # fmt: skip
        lines += [
            Line(
                "out",
                r.body,
                r.sent_at or r.created_at,
                r.status,
                r.conversation_id is not None,
                r.volunteer_id,
            )
            for r in outbound
            if r.status != MessageStatus.HELD  # a first text nobody sent yet is not said
        ]
    lines.sort(key=lambda line: line.at)
    return lines


def member_of(session: Session, c: Conversation) -> Member | None:
    """The conversation's member, without their tags (nothing here shows them: a Reply
    loaded them for nothing, twice)."""
    if c.member_id is None:
        return None
    return session.get(Member, c.member_id, options=[lazyload(Member.tag_rows)])


def thread(session: Session, conversation: Conversation, member: Member | None = None) -> Thread:
    """The conversation as its page shows it: the member (`member` if the caller has it),
    the campaign, every text."""
    c = conversation
    member = member if member is not None and member.id == c.member_id else member_of(session, c)
    campaign = session.get(Campaign, c.campaign_id) if c.campaign_id else None
    lines = lines_for(session.connection(), c.id, c.campaign_id, member.id if member else None)
    return Thread(
        c, member.first_name if member else "", member.last_name if member else "",
        member.local.number if member and member.local else None,
        member.language if member else "en", bool(member and member.opted_out), campaign, lines,
        merge_fields(member),
    )  # fmt: skip


def canned_for(t: Thread) -> list[dict]:
    """The campaign's canned responses, in the member's language, merge fields filled."""
    items = (t.campaign.canned_responses or []) if t.campaign else []
    return [
        {"title": item["title"], "text": render(canned_text(item, t.language), t.member)}
        for item in items
    ]


def _member_for_reply(session: Session, c: Conversation, member: Member | None) -> Member:
    if c.member_id is None or c.campaign_id is None:
        raise ThreadError("this person is not a member texted by a campaign: reply from Twilio")
    if member is None or member.id != c.member_id:
        member = member_of(session, c)
    if member is None:
        raise ThreadError("the member is gone")
    if member.opted_out:
        raise ThreadError(f"{member.first_name or 'This member'} opted out: no more texts")
    if c.status != ConversationStatus.OPEN:
        raise ThreadError("this conversation is closed")
    return member


def _queue_text(
    session: Session, user: User, c: Conversation, member: Member, text: str, request_key: str,
    now: datetime, compliance: bool = False,
) -> int | None:  # fmt: skip
    """A text in the conversation, waiting for the send pipeline; None if the key has one."""
    row_id = session.execute(
        upsert(session.get_bind().dialect.name, T)
        .values(
            campaign_id=c.campaign_id, member_id=member.id, phone=member.phone, body=text,
            language=member.language, segments=measure(text).segments,
            status=MessageStatus.PENDING, attempts=0, created_at=now, updated_at=now,
            volunteer_id=user.id, assigned_at=now, conversation_id=c.id,
            request_key=request_key, compliance=compliance,
        )
        .on_conflict_do_nothing(index_elements=[T.c.request_key])
        .returning(T.c.id)
    ).scalar()  # fmt: skip
    return row_id


def reply(
    session: Session, user: User, c: Conversation, body: str, request_key: str, now: datetime,
    member: Member | None = None,
) -> int | None:  # fmt: skip
    """Queue the volunteer's answer through the send pipeline; the id of its text (the
    conversation's member is loaded unless given: see member_of).

    One press of Reply is one text: the browser's request_key makes a repeated press (a
    double click, a retried request) find the row it already wrote. None: already written.
    """
    text = (body or "").strip()
    if not text:
        raise ThreadError("Message is empty: write an answer or pick a canned response")
    if len(text) > MAX_REPLY:
        raise ThreadError(f"Message is longer than {MAX_REPLY} characters")
    if not request_key or len(request_key) > 64:
        raise ThreadError("reload the page: this form has no request key")
    member = _member_for_reply(session, c, member)
    row_id = _queue_text(session, user, c, member, text, request_key, now)
    if row_id is None:
        return None
    c.answered_at = now
    if c.volunteer_id is None:
        c.volunteer_id, c.assigned_at = user.id, now
    # A finished blast's conversations go on: its answers are sent, and it stays finished
    # (see outbox.answers_reply).
    log.info("conversation %s: volunteer %s replied (message %s)", c.id, user.id, row_id)
    return row_id


def record(session: Session, user: User, c: Conversation, name: str, now: datetime) -> bool:
    """A volunteer's tag: an outcome of the campaign (source volunteer_tag); True if new."""
    if c.member_id is None or c.campaign_id is None:
        raise ThreadError("outcomes are recorded for members texted by a campaign")
    if c.status != ConversationStatus.OPEN:
        raise ThreadError("this conversation is closed: nothing more is recorded in it")
    if session.scalar(select(Member.opted_out_at).where(Member.id == c.member_id)):
        raise ThreadError("this member opted out: nothing more is recorded in this conversation")
    campaign = session.get(Campaign, c.campaign_id)
    if campaign is None:
        raise ThreadError("the campaign is gone")
    if not name:
        raise ThreadError("Outcome: choose one")
    if name not in outcomes_of(campaign):
        raise ThreadError(f"{name!r} is not an outcome of {campaign.name}")
    note = f"{TAG_NOTE}{user.id}"
    created = record_outcome(session, c.member_id, c.campaign_id, name,
                             OutcomeSource.VOLUNTEER_TAG, now, note=note)  # fmt: skip
    log.info("conversation %s: volunteer %s recorded %s", c.id, user.id, name)
    return created


def survey_next(session: Session, c: Conversation, answer_index: int) -> tuple[str, str | None]:
    """The survey answer's outcome and its next script line, merge fields filled."""
    campaign = session.get(Campaign, c.campaign_id) if c.campaign_id else None
    answers = ((campaign.survey or {}).get("answers") or []) if campaign else []
    if not 0 <= answer_index < len(answers):
        raise ThreadError("no such survey answer")
    answer = answers[answer_index]
    member = session.get(Member, c.member_id) if c.member_id else None
    nxt = render(answer["next"], merge_fields(member)) if answer.get("next") else None
    return answer["outcome"], nxt


def close(session: Session, user: User, c: Conversation, now: datetime) -> None:
    """Skip / Close: the conversation ends; a new reply opens a new one."""
    if c.status == ConversationStatus.OPEN:
        c.status, c.closed_at, c.closed_by = ConversationStatus.CLOSED, now, user.id
        if c.volunteer_id is None:
            c.volunteer_id = user.id
        log.info("conversation %s: closed by user %s", c.id, user.id)


def opt_member_out(
    session: Session, user: User, c: Conversation, now: datetime, client: redis.Redis | None,
    confirmation: Callable[[str | None], str],
) -> int | None:  # fmt: skip
    """One click: the member is opted out everywhere, the ledger says who did it; closed.

    The member is told, in their language, with the text a STOP would have got
    (`confirmation(language)`): a compliance text, the one the opt-out list lets through.
    Only when this click opted them out: one who already was (they texted STOP, a manager
    did it) has had their answer. The confirmation's row id, to release; None if none.
    """
    if c.member_id is None:
        raise ThreadError("only members can be opted out here")
    member = session.get(Member, c.member_id)
    if member is None:
        raise ThreadError("the member is gone")
    changed = opt_out(session, member.phone, OptOutSource.VOLUNTEER, now,
                      text=f"opted out by {user.role} {user.email} in conversation {c.id}",
                      client=client, actor_id=user.id, reason="asked a volunteer")  # fmt: skip
    close(session, user, c, now)
    if not changed or c.campaign_id is None:
        # Texts go out through a campaign's pipeline; a conversation no campaign started
        # (a stranger's text) has none, and its sender was never on a list to leave.
        return None
    # One per conversation: the opt-out closed it, and a later one is a new conversation.
    row_id = _queue_text(session, user, c, member, confirmation(member.language),
                         f"opt-out-confirmation-{c.id}", now, compliance=True)  # fmt: skip
    log.info("conversation %s: user %s opted the member out; confirmation %s", c.id, user.id,
             row_id)  # fmt: skip
    return row_id


def local_of(session: Session, member_id: int | None) -> str | None:
    if member_id is None:
        return None
    return session.scalar(
        select(Local.number).join(Member, Member.local_id == Local.id).where(Member.id == member_id)
    )
