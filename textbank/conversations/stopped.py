"""A member's STOP, told to the consoles that have their conversation open."""

from __future__ import annotations

import redis
from sqlalchemy import Connection, bindparam, select

from textbank.conversations.feed import Update, read_update
from textbank.conversations.sql import CONV
from textbank.models import ConversationStatus

_OPEN_OF_MEMBER = select(CONV.c.id).where(
    CONV.c.member_id == bindparam("member_id"), CONV.c.status == ConversationStatus.OPEN
)


def member_opted_out(
    conn: Connection, client: redis.Redis | None, member_id: int, inbound_id: int
) -> list[Update]:
    """Each open conversation of the member, read as a live update (published by the caller
    after its commit): an open thread then says 'opted out' and turns its Reply off,
    without the volunteer reloading.

    A STOP opens no conversation (it is acted on, not answered), so without this push the
    thread would go on offering Reply until the volunteer pressed it and was refused.
    """
    if client is None:
        return []
    found = conn.execute(_OPEN_OF_MEMBER, {"member_id": member_id}).scalars().all()
    return [u for u in (read_update(conn, cid, inbound_id) for cid in found) if u is not None]
