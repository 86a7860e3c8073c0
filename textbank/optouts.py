"""Opt-outs: global by phone, sticky, in a ledger, and visible to senders within a second."""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from textbank.db import Executor, dialect_name, upsert
from textbank.models import Member, OptOutEvent, OptOutSource, Suppression
from textbank.phones import InvalidPhone, to_e164

log = logging.getLogger(__name__)

RECENT_KEY = "textbank:optouts:recent"  # phone -> when; senders watch it mid-blast
RECENT_KEEP = 24 * 3600  # far longer than any claim is held; the database stays the record


def remember_recent(client: redis.Redis, phone: str, now: datetime) -> None:
    """Tell every sender, within a fraction of a second, to stop texting this phone."""
    ts = now.timestamp()
    with client.pipeline() as pipe:
        pipe.zadd(RECENT_KEY, {phone: ts})
        pipe.zremrangebyscore(RECENT_KEY, "-inf", ts - RECENT_KEEP)
        pipe.execute()


def forget_recent(client: redis.Redis, phone: str) -> None:
    """An opt-in: senders may text this phone again."""
    client.zrem(RECENT_KEY, phone)


def _record(
    session: Executor, phone: str, kind: str, source: OptOutSource, text: str | None,
    now: datetime, *only_if, **member_values,
) -> int | None:  # fmt: skip
    """Mirror the phone's state onto its member (if any) and write the ledger event."""
    member_id = session.scalar(select(Member.id).where(Member.phone == phone))
    if member_id is not None:
        session.execute(
            update(Member).where(Member.id == member_id, *only_if).values(**member_values)
        )
    event = {"phone": phone, "member_id": member_id, "kind": kind, "source": source.value,
             "text": text, "created_at": now}  # fmt: skip
    session.execute(insert(OptOutEvent.__table__).values(event))
    return member_id


def opt_out(
    session: Executor,
    phone: str,
    source: OptOutSource,
    now: datetime,
    *,
    text: str | None = None,
    client: redis.Redis | None = None,
) -> bool:
    """Opt a phone out everywhere; True if it was not opted out before. Imports never undo it."""
    stmt = upsert(dialect_name(session), Suppression.__table__).values(
        phone=phone, source=source.value, created_at=now
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["phone"]).returning(Suppression.phone)
    added = session.scalar(stmt) is not None
    member_id = _record(session, phone, "opt_out", source, text, now,
                        Member.opted_out_at.is_(None), opted_out_at=now,
                        opt_out_source=source.value)  # fmt: skip
    if client is not None:
        # Senders check this right before each request, so a STOP mid-blast also
        # stops texts a worker has already claimed.
        remember_recent(client, phone, now)
    if added:
        log.info("opted out %s (member %s) by %s", phone[-4:].rjust(len(phone), "*"), member_id,
                 source.value)  # fmt: skip
    return bool(added)


def opt_out_member(
    session: Session,
    member_id: int,
    source: OptOutSource,
    now: datetime,
    client: redis.Redis | None = None,
    phone: str | None = None,
) -> bool:
    """Opt a member out by id (carrier 21610, a volunteer's tag)."""
    phone = phone or session.scalar(select(Member.phone).where(Member.id == member_id))
    return opt_out(session, phone, source, now, client=client)


def opt_in(
    session: Executor,
    phone: str,
    source: OptOutSource,
    now: datetime,
    *,
    text: str | None = None,
    client: redis.Redis | None = None,
) -> bool:
    """Re-subscribe a phone at its owner's request (START, UNSTOP); True if it was opted out."""
    removed = session.scalar(
        delete(Suppression).where(Suppression.phone == phone).returning(Suppression.phone)
    )
    _record(session, phone, "opt_in", source, text, now, opted_out_at=None, opt_out_source=None)
    if client is not None:
        forget_recent(client, phone)
    return bool(removed)


def suppressed_among(session: Session, phones: list[str]) -> set[str]:
    """Which of these phones are opted out (for imports creating members)."""
    found: set[str] = set()
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        found.update(session.scalars(select(Suppression.phone).where(Suppression.phone.in_(chunk))))
    return found


def import_suppression_list(
    session: Session, phones: list[tuple[int, str]], now: datetime, client: redis.Redis | None
) -> dict:
    """Opt out every phone of a partner's list: (row number, phone as written) pairs."""
    added = already = 0
    rejected = []
    for row, raw in phones:
        try:
            phone = to_e164(raw)
        except InvalidPhone as exc:
            rejected.append({"row": row, "reason": str(exc)})
            continue
        if opt_out(session, phone, OptOutSource.SUPPRESSION_LIST, now, client=client):
            added += 1
        else:
            already += 1
    return {"added": added, "already_opted_out": already, "rejected": rejected}


def ledger(session: Session, since: datetime | None = None) -> list[dict]:
    """Every opt-out and opt-in event, oldest first."""
    query = select(OptOutEvent).order_by(OptOutEvent.id)
    if since is not None:
        query = query.where(OptOutEvent.created_at >= since)
    return [
        {"phone": e.phone, "member_id": e.member_id, "kind": e.kind, "source": e.source,
         "text": e.text, "at": e.created_at.isoformat()}
        for e in session.scalars(query)
    ]  # fmt: skip
