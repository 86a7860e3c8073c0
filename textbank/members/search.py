"""Finding members by name or phone, with filters, fast on a million of them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, func, select, union_all
from sqlalchemy.orm import Session, lazyload

from textbank.members.fields import FieldError, normalize_local
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Local, Member, MemberTag

PAGE = 50
_DIGITS = re.compile(r"^[\d\s().+-]+$")


@dataclass
class SearchFilter:
    """What a manager typed and picked; empty means any."""

    q: str = ""
    local: str = ""
    tag: str = ""
    status: str = ""
    language: str = ""
    opted_out: str = ""  # "yes" | "no" | ""

    def active(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class SearchResult:
    members: list[Member]
    more: bool  # more matched than shown: refine the search (or page on, when browsing)
    next_after: int | None = None
    notes: list[str] = field(default_factory=list)


def _lower(column, dialect: str) -> ColumnElement:
    # On PostgreSQL the "C" collation lets LIKE 'x%' and ORDER BY use one index range.
    expr = func.lower(column)
    return expr.collate("C") if dialect == "postgresql" else expr


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(session: Session, f: SearchFilter) -> list[ColumnElement]:
    clauses: list[ColumnElement] = []
    if f.local:
        number = normalize_local(f.local)
        local_id = session.scalar(select(Local.id).where(Local.number == number))
        clauses.append(Member.local_id == (local_id if local_id is not None else -1))
    if f.tag:
        tag = " ".join(f.tag.split()).lower()
        clauses.append(Member.id.in_(select(MemberTag.member_id).where(MemberTag.tag == tag)))
    if f.status:
        clauses.append(Member.status == f.status.strip().lower())
    if f.language:
        clauses.append(Member.language == f.language.strip().lower())
    if f.opted_out == "yes":
        clauses.append(Member.opted_out_at.is_not(None))
    elif f.opted_out == "no":
        clauses.append(Member.opted_out_at.is_(None))
    return clauses


def _by_phone(session: Session, text: str, clauses: list) -> Select:
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 10:
        try:
            return select(Member).where(Member.phone == to_e164(text), *clauses)
        except InvalidPhone:
            pass
    if len(digits) < 4:
        raise FieldError("type at least 4 digits of a phone number")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # The last digits, read from an index on the reversed number.
        tail = func.reverse(Member.phone).collate("C")
        return (
            select(Member)
            .where(tail.like(_escape(digits[::-1]) + "%", escape="\\"), *clauses)
            .order_by(tail, Member.id)
        )
    return select(Member).where(Member.phone.like("%" + digits), *clauses).order_by(Member.id)


def _by_name(session: Session, text: str, clauses: list, limit: int) -> Select:
    dialect = session.get_bind().dialect.name
    first, last = _lower(Member.first_name, dialect), _lower(Member.last_name, dialect)
    words = text.lower().split()
    if len(words) >= 2:
        # "ana riv": a first name and a last name, each by its beginning.
        a, b = _escape(words[0]) + "%", _escape(" ".join(words[1:])) + "%"
        return (
            select(Member)
            .where(first.like(a, escape="\\"), last.like(b, escape="\\"), *clauses)
            .order_by(last, first, Member.id)
        )
    word = _escape(words[0]) + "%"
    # One word is a first or a last name: two index ranges, each read in order.
    by_last = (
        select(Member.id)
        .where(last.like(word, escape="\\"), *clauses)
        .order_by(last, first, Member.id)
        .limit(limit)
        .subquery()
    )
    by_first = (
        select(Member.id)
        .where(first.like(word, escape="\\"), *clauses)
        .order_by(first, last, Member.id)
        .limit(limit)
        .subquery()
    )
    ids = union_all(select(by_last.c.id), select(by_first.c.id)).subquery()
    return (
        select(Member)
        .where(Member.id.in_(select(ids.c.id)))
        .order_by(Member.last_name, Member.first_name, Member.id)
    )


def search_members(
    session: Session, f: SearchFilter, after: int | None = None, limit: int = PAGE
) -> SearchResult:
    """Members matching a name or phone (or all, newest first, `limit` a page) and filters."""
    clauses = _filters(session, f)
    text = " ".join(f.q.split())
    if not text:
        query = select(Member).where(*clauses).order_by(Member.id.desc()).limit(limit + 1)
        if after:
            query = query.where(Member.id < after)
        rows = list(session.scalars(query).unique())
        more = len(rows) > limit
        rows = rows[:limit]
        return SearchResult(rows, more, rows[-1].id if more and rows else None)
    if _DIGITS.match(text) and sum(ch.isdigit() for ch in text) >= 3:
        query = _by_phone(session, text, clauses)
    else:
        query = _by_name(session, text, clauses, limit + 1)
    # The list shows no tags: do not fetch them (a second query per search).
    query = query.options(lazyload(Member.tag_rows)).limit(limit + 1)
    rows = list(session.scalars(query).unique())
    return SearchResult(rows[:limit], len(rows) > limit)


def count_members(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Member)) or 0
