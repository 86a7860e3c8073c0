"""Looking members up: filtered, cursor-paged listings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank.members.fields import FieldError, normalize_local
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Local, Member
from textbank.values import cursor

MAX_PAGE = 1000


@dataclass
class MemberPage:
    members: list[Member]
    next_cursor: str | None


def member_to_dict(member: Member) -> dict:
    """A member in the contract's JSON shape."""
    return {
        "id": member.id,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "phone": member.phone,
        "email": member.email,
        "local": member.local.number if member.local else None,
        "worksite": member.worksite,
        "language": member.language,
        "status": member.status,
        "tags": member.tags,
        "opted_out": member.opted_out,
        "leader": member.is_leader,
    }


def list_members(
    session: Session,
    *,
    local: str | None = None,
    phone: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> MemberPage:
    """A page of members ordered by id; `after` is the cursor a previous page returned."""
    if not 1 <= limit <= MAX_PAGE:
        raise FieldError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(Member).order_by(Member.id).limit(limit + 1)
    if after:
        query = query.where(Member.id > cursor(after))
    if local:
        query = query.join(Local, Member.local_id == Local.id).where(
            Local.number == normalize_local(local)
        )
    if phone:
        try:
            query = query.where(Member.phone == to_e164(phone))
        except InvalidPhone as exc:
            raise FieldError(f"phone: {exc}") from exc
    rows = list(session.scalars(query).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return MemberPage(rows, str(rows[-1].id) if more else None)
