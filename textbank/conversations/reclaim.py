"""Reclaim: unanswered conversations and abandoned batches go back to the pool."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from textbank.campaigns.p2p import DEFAULT_RECLAIM_MINUTES
from textbank.conversations.sql import OUT, affected
from textbank.models import Campaign, Conversation, ConversationStatus
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)
T = OUT


@dataclass
class Reclaimed:
    conversations: list[int]
    first_texts: int

    def to_dict(self) -> dict:
        return {"conversations": len(self.conversations), "first_texts": self.first_texts}


def reclaim_stale(session: Session, now: datetime, online: Collection[int] = ()) -> Reclaimed:
    """Release what its holder is not working: safe any time, from any number of workers.

    A conversation whose member has waited longer than the campaign's reclaim time goes to
    the pool for any volunteer. First texts held that long by a volunteer whose console is
    closed go back too (a shift that ended without "Done for today").
    """
    minutes = func.coalesce(Campaign.reclaim_minutes, DEFAULT_RECLAIM_MINUTES)
    stale = session.execute(
        select(Conversation.id, Conversation.volunteer_id, Conversation.last_message_at, minutes)
        .outerjoin(Campaign, Campaign.id == Conversation.campaign_id)
        .where(
            Conversation.status == ConversationStatus.OPEN,
            Conversation.volunteer_id.is_not(None),
            Conversation.answered_at.is_(None)
            | (Conversation.answered_at < Conversation.last_message_at),
            Conversation.last_message_at < now - timedelta(minutes=1),
        )
    ).all()
    ids = [r[0] for r in stale if r[2] < now - timedelta(minutes=r[3])]
    released = []
    for conversation_id in ids:
        # Guarded again: an answer that landed since the read keeps the conversation.
        done = affected(
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.status == ConversationStatus.OPEN,
                    Conversation.answered_at.is_(None)
                    | (Conversation.answered_at < Conversation.last_message_at),
                )
                .values(volunteer_id=None, assigned_at=None)
            )
        )
        if done:
            released.append(conversation_id)
    held = session.execute(
        select(T.c.id, T.c.volunteer_id, T.c.assigned_at, Campaign.reclaim_minutes)
        .join(Campaign, Campaign.id == T.c.campaign_id)
        .where(T.c.status == MessageStatus.HELD, T.c.volunteer_id.is_not(None),
               T.c.assigned_at < now - timedelta(minutes=1))
    ).all()  # fmt: skip
    rows = [
        r.id
        for r in held
        if r.volunteer_id not in online and r.assigned_at < now - timedelta(minutes=r[3])
    ]
    freed = 0
    for start in range(0, len(rows), 1000):
        freed += affected(
            session.execute(
                update(T)
                .where(T.c.id.in_(rows[start : start + 1000]), T.c.status == MessageStatus.HELD)
                .values(volunteer_id=None, assigned_at=None, updated_at=now)
            )
        )
    if released or freed:
        log.info("reclaimed conversations %s and %d held first texts", released, freed)
    return Reclaimed(released, freed)
