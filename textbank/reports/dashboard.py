"""The dashboard's own queries: delivery errors by Twilio code, and activity per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from textbank.engagement.marks import CONVERSATIONAL
from textbank.members.fields import normalize_local
from textbank.models import VOLUNTEER_OUTCOME, InboundMessage, Local, Member, OutboundMessage
from textbank.models import Outcome as OC
from textbank.twilio.codes import error_meaning

OUT, INB = OutboundMessage, InboundMessage
MAX_DAYS = 366  # a year of bars is already more than a phone screen can show


def _for_local(query, member_col: ColumnElement | InstrumentedAttribute, local: str | None):
    if not local:
        return query
    return (
        query.join(Member, Member.id == member_col)
        .join(Local, Local.id == Member.local_id)
        .where(Local.number == normalize_local(local))
    )


def error_breakdown(
    session: Session,
    campaign_id: int | None = None,
    *,
    local: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict]:
    """[{code, meaning, count}] over texts that ended with a Twilio error, most frequent first."""
    query = select(OUT.error_code, func.count()).where(OUT.error_code.is_not(None))
    if campaign_id is not None:
        query = query.where(OUT.campaign_id == campaign_id)
    # A text's error is recorded when it last changed, as the engagement report counts failures.
    if since:
        query = query.where(OUT.updated_at >= since)
    if until:
        query = query.where(OUT.updated_at < until)
    query = _for_local(query, OUT.member_id, local).group_by(OUT.error_code)
    rows = [
        {"code": code, "meaning": error_meaning(code), "count": count}
        for code, count in session.execute(query)
    ]
    rows.sort(key=lambda r: (-r["count"], r["code"]))
    return rows


def _utc_day(column: ColumnElement, dialect: str) -> ColumnElement:
    """The calendar day (UTC) of a timestamp column, as SQL each database understands."""
    if dialect == "postgresql":
        # timezone('UTC', timestamptz) is the UTC wall-clock time, whatever the session's zone.
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite: UTCDateTime stores naive UTC text, date() takes its day


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def timeline(
    session: Session,
    days: int = 30,
    campaign_id: int | None = None,
    *,
    local: str | None = None,
    end: date | None = None,
) -> list[dict]:
    """[{day, replies, actions, volunteers}] for each UTC day of the `days` ending on `end`.

    Replies are members' conversational texts (not STOP/START), as in the engagement
    report; every outcome is an action except a volunteer sign-up. Days without any
    activity are listed with zeros so a chart's axis has no gaps.
    """
    days = max(1, min(int(days), MAX_DAYS))
    last = end or datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    stop = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    dialect = session.get_bind().dialect.name
    series: dict[date, dict] = {
        first + timedelta(days=i): {"replies": 0, "actions": 0, "volunteers": 0}
        for i in range(days)
    }

    def count(name: str, table, *where: ColumnElement) -> None:
        created, day = table.created_at, _utc_day(table.created_at, dialect)
        # Bounded to the chart's days: a year of history is never scanned for a month's chart.
        query = select(day, func.count()).where(*where, created >= start, created < stop)
        if campaign_id is not None:
            query = query.where(table.campaign_id == campaign_id)
        query = _for_local(query, table.member_id, local).group_by(day)
        for value, n in session.execute(query):
            bucket = series.get(_as_date(value))
            if bucket is not None:
                bucket[name] += n

    count("replies", INB, INB.member_id.is_not(None), INB.classification.in_(CONVERSATIONAL))
    count("actions", OC, OC.name != VOLUNTEER_OUTCOME)
    count("volunteers", OC, OC.name == VOLUNTEER_OUTCOME)
    return [{"day": day, **values} for day, values in series.items()]
