"""Where a member's reply goes: back to the volunteer who texted them, if online, else the pool."""

from __future__ import annotations

from datetime import datetime

import redis
from sqlalchemy import Connection, bindparam, select, update

from textbank.conversations import live
from textbank.conversations.feed import Update, read_update
from textbank.conversations.sql import CONV, OUT
from textbank.models import is_first_text

# The conversation's holder, and the volunteer who sent this member the campaign's first text.
_OWNERS = select(
    CONV.c.volunteer_id,
    CONV.c.campaign_id,
    select(OUT.c.volunteer_id)
    .where(
        OUT.c.campaign_id == CONV.c.campaign_id,
        OUT.c.member_id == CONV.c.member_id,
        is_first_text(OUT),
    )
    .scalar_subquery()
    .label("texter"),
).where(CONV.c.id == bindparam("conversation_id"))

_ASSIGN = (
    update(CONV)
    .where(CONV.c.id == bindparam("conversation_id"), CONV.c.volunteer_id.is_(None))
    .values(volunteer_id=bindparam("volunteer_id"), assigned_at=bindparam("now"))
)


def reply_arrived(
    conn: Connection, client: redis.Redis | None, conversation_id: int, inbound_id: int,
    now: datetime,
) -> Update | None:  # fmt: skip
    """Route a reply that opened or continued a conversation, and read what consoles are
    sent of it (Update.publish it once this transaction commits)."""
    if client is None:
        return None
    row = conn.execute(_OWNERS, {"conversation_id": conversation_id}).first()
    if row is None:
        return None
    holder = row.volunteer_id
    try:
        texter_online = row.texter is not None and live.is_online(client, row.texter, now)
    except redis.RedisError:
        texter_online = False  # the reply still lands in the pool; Redis is not its record
    if holder is None and texter_online:
        conn.execute(_ASSIGN, {"conversation_id": conversation_id, "volunteer_id": row.texter,
                               "now": now})  # fmt: skip
    return read_update(conn, conversation_id, inbound_id)
