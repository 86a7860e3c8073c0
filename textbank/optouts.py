"""Opt-outs: global, sticky, and visible to senders within milliseconds."""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from sqlalchemy import update
from sqlalchemy.orm import Session

from textbank.models import Member, OptOutSource

log = logging.getLogger(__name__)

RECENT_TTL = 24 * 3600  # longer than any claim is held; the database stays the record


def recent_key(phone: str) -> str:
    return f"textbank:optout:{phone}"


def opt_out_member(
    session: Session,
    member_id: int,
    source: OptOutSource,
    now: datetime,
    client: redis.Redis | None = None,
    phone: str | None = None,
) -> bool:
    """Opt a member out everywhere; True if they were not already. Never undone by imports."""
    changed = session.execute(
        update(Member)
        .where(Member.id == member_id, Member.opted_out_at.is_(None))
        .values(opted_out_at=now, opt_out_source=source.value)
    ).rowcount
    if client is not None and phone:
        # Senders check this key right before each request, so a STOP mid-blast
        # stops texts already claimed by a worker.
        client.set(recent_key(phone), "1", ex=RECENT_TTL)
    if changed:
        log.info("member %s opted out (%s)", member_id, source.value)
    return bool(changed)
