"""A member's STOP, told to the consoles that have their conversation open."""

from __future__ import annotations

from datetime import datetime

import redis
from sqlalchemy import Connection, bindparam, select

from textbank.conversations import live
from textbank.conversations.sql import CONV
from textbank.models import ConversationStatus

_OPEN_OF_MEMBER = select(CONV.c.id, CONV.c.volunteer_id, CONV.c.campaign_id).where(
    CONV.c.member_id == bindparam("member_id"), CONV.c.status == ConversationStatus.OPEN
)


def member_opted_out(
    conn: Connection, client: redis.Redis | None, member_id: int, inbound_id: int, now: datetime
) -> None:
    """Each open conversation of the member, pushed as a live update: an open thread then
    says 'opted out' and turns its Reply off, without the volunteer reloading.

    A STOP opens no conversation (it is acted on, not answered), so without this push the
    thread would go on offering Reply until the volunteer pressed it and was refused.
    """
    if client is None:
        return
    for row in conn.execute(_OPEN_OF_MEMBER, {"member_id": member_id}):
        event = {"conversation_id": row.id, "inbound_id": inbound_id, "opted_out": True,
                 "campaign_id": row.campaign_id, "at": now.timestamp()}  # fmt: skip
        live.publish(client, row.volunteer_id, event)
