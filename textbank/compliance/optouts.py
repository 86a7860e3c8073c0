"""Opt-outs: global by phone, sticky, in a ledger, and visible to senders within a second."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any

import redis
from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from textbank.db import Executor, dialect_name, upsert
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Member, OptOutEvent, OptOutSource, Suppression, table

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


S, EVENTS, M = table(Suppression), table(OptOutEvent), table(Member)
_MEMBER_BY_PHONE = select(M.c.id).where(M.c.phone == bindparam("oo_phone"))
_EVENT = insert(EVENTS).values(
    phone=bindparam("oo_phone"), member_id=bindparam("oo_member_id"), kind=bindparam("oo_kind"),
    source=bindparam("oo_source"), text=bindparam("oo_text"), created_at=bindparam("now"),
    reason=bindparam("oo_reason"), actor_id=bindparam("oo_actor_id"),
)  # fmt: skip


def _change(dialect: str, kind: str, member_id):
    """The suppression change, and its mirror on the member whose id is `member_id`."""
    if kind == "opt_out":
        suppression = (
            upsert(dialect, S)
            .values(phone=bindparam("oo_phone"), source=bindparam("oo_source"),
                    created_at=bindparam("now"))
            .on_conflict_do_nothing(index_elements=["phone"])
            .returning(S.c.phone)
        )  # fmt: skip
        member = (
            update(M)
            .where(M.c.id == member_id, M.c.opted_out_at.is_(None))
            .values(opted_out_at=bindparam("now"), opt_out_source=bindparam("oo_source"),
                    updated_at=bindparam("now"))
        )  # fmt: skip
    else:
        suppression = delete(S).where(S.c.phone == bindparam("oo_phone")).returning(S.c.phone)
        member = (
            update(M)
            .where(M.c.id == member_id)
            .values(opted_out_at=None, opt_out_source=None, updated_at=bindparam("now"))
        )
    return suppression, member


@cache
def _change_one_by_one(dialect: str, kind: str):
    return _change(dialect, kind, bindparam("oo_member_id"))


@cache
def _change_in_one(kind: str):
    """PostgreSQL: suppression, member and ledger event in one statement, one round trip."""
    member_id = _MEMBER_BY_PHONE.scalar_subquery()
    suppression, member = _change("postgresql", kind, member_id)
    changed = suppression.cte("changed")
    columns = ["phone", "member_id", "kind", "source", "text", "created_at", "reason", "actor_id"]
    row: list[Any] = [
        bindparam(f"oo_{c}" if c != "created_at" else "now", type_=EVENTS.c[c].type)
        for c in columns
    ]
    row[1] = member_id
    event = insert(EVENTS).from_select(columns, select(*row)).cte("event")
    return select(exists(select(changed.c.phone)), member_id).add_cte(member.cte("mirrored"), event)


def _apply(
    executor: Executor, phone: str, kind: str, source: OptOutSource, text: str | None,
    now: datetime, reason: str | None = None, actor_id: int | None = None,
) -> tuple[bool, int | None]:  # fmt: skip
    """Change the phone's state, mirror it onto its member (if any), write the ledger event.

    Returns whether the state changed and the member's id. One transaction either way: on
    PostgreSQL a single statement, elsewhere the caller's.
    """
    # Bound as oo_*: a key named like a column of a table the statement updates would be
    # taken as a new value for that column.
    values = {"oo_phone": phone, "oo_kind": kind, "oo_source": source.value, "oo_text": text,
              "now": now, "oo_member_id": None, "oo_reason": reason,
              "oo_actor_id": actor_id}  # fmt: skip
    dialect = dialect_name(executor)
    if dialect == "postgresql":
        changed, member_id = executor.execute(_change_in_one(kind), values).one()
        return bool(changed), member_id
    suppression, member = _change_one_by_one(dialect, kind)
    changed = executor.execute(suppression, values).first() is not None
    member_id = values["oo_member_id"] = executor.scalar(_MEMBER_BY_PHONE, values)
    if member_id is not None:
        executor.execute(member, values)
    executor.execute(_EVENT, values)
    return changed, member_id


def opt_out(
    session: Executor,
    phone: str,
    source: OptOutSource,
    now: datetime,
    *,
    text: str | None = None,
    client: redis.Redis | None = None,
    reason: str | None = None,
    actor_id: int | None = None,
) -> bool:
    """Opt a phone out everywhere; True if it was not opted out before. Imports never undo it."""
    added, member_id = _apply(session, phone, "opt_out", source, text, now, reason, actor_id)
    if client is not None:
        # Senders check this right before each request, so a STOP mid-blast also
        # stops texts a worker has already claimed.
        remember_recent(client, phone, now)
    if added:
        log.info("opted out %s (member %s) by %s", phone[-4:].rjust(len(phone), "*"), member_id,
                 source.value)  # fmt: skip
    return added


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
    if phone is None:
        raise LookupError(f"no member {member_id}")
    return opt_out(session, phone, source, now, client=client)


def opt_in(
    session: Executor,
    phone: str,
    source: OptOutSource,
    now: datetime,
    *,
    text: str | None = None,
    client: redis.Redis | None = None,
    reason: str | None = None,
    actor_id: int | None = None,
) -> bool:
    """Re-subscribe a phone at its owner's request (START, UNSTOP); True if it was opted out."""
    removed, _ = _apply(session, phone, "opt_in", source, text, now, reason, actor_id)
    if client is not None:
        forget_recent(client, phone)
    return removed


def suppressed_among(session: Session, phones: list[str]) -> set[str]:
    """Which of these phones are opted out (for imports creating members)."""
    found: set[str] = set()
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        found.update(session.scalars(select(Suppression.phone).where(Suppression.phone.in_(chunk))))
    return found


def import_suppression_list(
    session: Session, phones: list[tuple], now: datetime, client: redis.Redis | None,
    actor_id: int | None = None,
) -> dict:  # fmt: skip
    """Opt out every phone of a partner's list: (row number, phone as written[, reason])."""
    added = already = 0
    rejected = []
    for row, raw, *why in phones:
        try:
            phone = to_e164(raw)
        except InvalidPhone as exc:
            rejected.append({"row": row, "reason": str(exc)})
            continue
        reason = (why[0] or "").strip()[:500] or None if why else None
        if opt_out(session, phone, OptOutSource.SUPPRESSION_LIST, now, client=client,
                   reason=reason, actor_id=actor_id):  # fmt: skip
            added += 1
        else:
            already += 1
    return {"added": added, "already_opted_out": already, "rejected": rejected}


def iter_ledger(
    session: Session, since: datetime | None = None, batch: int = 5000
) -> Iterator[dict]:
    """Every opt-out and opt-in event, oldest first, read `batch` at a time by id: an
    export of any length holds one batch in memory."""
    E = OptOutEvent  # columns, not entities: the session keeps nothing of what it read
    columns = (E.id, E.phone, E.member_id, E.kind, E.source, E.text, E.reason, E.created_at)
    after = 0
    while True:
        query = select(*columns).where(E.id > after).order_by(E.id).limit(batch)
        if since is not None:
            query = query.where(E.created_at >= since)
        events = session.execute(query).all()
        for e in events:
            yield {"phone": e.phone, "member_id": e.member_id, "kind": e.kind,
                   "source": e.source, "text": e.text, "reason": e.reason,
                   "at": e.created_at.isoformat()}  # fmt: skip
        if len(events) < batch:
            return
        after = events[-1].id


def ledger(session: Session, since: datetime | None = None) -> list[dict]:
    """Every opt-out and opt-in event, oldest first."""
    return list(iter_ledger(session, since))
