"""The opt-out ledger as a manager reads it: searchable, newest first, with who did it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Member, OptOutEvent, Suppression, User


@dataclass
class LedgerRow:
    event: OptOutEvent
    member_id: int | None
    member_name: str
    actor: str | None


def ledger_page(
    session: Session, q: str = "", kind: str = "", before: int | None = None, limit: int = 100
) -> tuple[list[LedgerRow], int | None]:
    """Ledger events matching a phone or a member's name, newest first, a page at a time."""
    query = (
        select(OptOutEvent, Member.id, Member.first_name, Member.last_name, User.email)
        .outerjoin(Member, Member.id == OptOutEvent.member_id)
        .outerjoin(User, User.id == OptOutEvent.actor_id)
        .order_by(OptOutEvent.id.desc())
        .limit(limit + 1)
    )
    text = " ".join(q.split())
    if text:
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 4 and len(digits) >= len(text.replace(" ", "")) - 4:
            try:
                query = query.where(OptOutEvent.phone == to_e164(text))
            except InvalidPhone:
                query = query.where(OptOutEvent.phone.like("%" + digits))
        else:
            like = text.lower() + "%"
            query = query.where(or_(Member.first_name.ilike(like), Member.last_name.ilike(like)))
    if kind in ("opt_out", "opt_in"):
        query = query.where(OptOutEvent.kind == kind)
    if before:
        query = query.where(OptOutEvent.id < before)
    rows = [
        LedgerRow(e, mid, f"{first or ''} {last or ''}".strip(), actor)
        for e, mid, first, last, actor in session.execute(query)
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].event.id if more and rows else None


def currently_opted_out(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Suppression)) or 0
