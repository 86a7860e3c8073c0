"""Campaign audiences: which members a blast is for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session

from textbank.members.fields import (
    FieldError,
    normalize_language,
    normalize_local,
    normalize_status,
)
from textbank.models import (
    Call,
    Campaign,
    Channel,
    Local,
    Member,
    MemberTag,
    OutboundMessage,
)

FILTERS = ("locals", "tags", "statuses", "languages", "leaders")


def normalize_audience(audience: object) -> dict[str, list[str]]:
    """Validate an audience filter; an empty list (or a missing key) means 'any'."""
    if audience is None:
        audience = {}
    if not isinstance(audience, dict):
        raise FieldError("audience must be an object with locals, tags, statuses, languages")
    unknown = sorted(set(audience) - set(FILTERS))
    if unknown:
        raise FieldError(f"unknown audience filter {unknown[0]!r}; use {', '.join(FILTERS)}")
    normalizers = {
        "locals": normalize_local,
        "tags": lambda t: " ".join(t.split()).lower(),
        "statuses": normalize_status,
        "languages": normalize_language,
    }
    result: dict = {}
    leaders = audience.get("leaders", False)
    if not isinstance(leaders, bool):
        raise FieldError("audience.leaders must be true or false")
    if leaders:
        result["leaders"] = True
    for key in FILTERS[:-1]:
        values = audience.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise FieldError(f"audience.{key} must be a list of strings")
        result[key] = sorted({normalizers[key](v) for v in values if v.strip()})
    return result


def audience_filter(audience: dict[str, list[str]]) -> list:
    """WHERE clauses selecting the audience's members."""
    clauses: list[ColumnElement[bool]] = []
    if audience.get("locals"):
        clauses.append(
            Member.local_id.in_(select(Local.id).where(Local.number.in_(audience["locals"])))
        )
    if audience.get("tags"):
        clauses.append(
            exists().where(MemberTag.member_id == Member.id, MemberTag.tag.in_(audience["tags"]))
        )
    if audience.get("statuses"):
        clauses.append(Member.status.in_(audience["statuses"]))
    if audience.get("languages"):
        clauses.append(Member.language.in_(audience["languages"]))
    if audience.get("leaders"):
        clauses.append(Member.is_leader.is_(True))
    return clauses


def audience_members(audience: dict[str, list[str]]) -> Select:
    """SELECT of the audience's members, by id, with what rendering needs."""
    return (
        select(
            Member.id,
            Member.phone,
            Member.first_name,
            Member.last_name,
            Member.worksite,
            Member.language,
            Member.opted_out_at,
            # {local} is the local's name as imported ("Local 1018", "SEIU 1199 United"):
            # rendering.local_value, in SQL.
            func.coalesce(Local.name, Local.number).label("local"),
            Local.number.label("local_number"),  # {local_stats} are per local number
        )
        .outerjoin(Local, Member.local_id == Local.id)
        .where(*audience_filter(audience))
        .order_by(Member.id)
    )


def audience_size(session: Session, audience: dict[str, list[str]]) -> tuple[int, int]:
    """(members matched, of whom opted out)."""
    row = session.execute(
        select(func.count(), func.count(Member.opted_out_at)).where(*audience_filter(audience))
    ).one()
    return row[0], row[1]


# A change made in a transaction that began before the launch can commit after the snapshot
# read past that member: looking this far back before the launch still finds it.
CHANGES_SETTLE = timedelta(minutes=10)


def changed_since(campaign: Campaign) -> datetime | None:
    """Members changed since when may be new to a launched campaign's audience."""
    if campaign.launched_at is None:
        return None
    return campaign.launched_at - CHANGES_SETTLE


def not_yet_reached(campaign: Campaign, since: datetime) -> list:
    """WHERE clauses of the audience's members "Text new members" adds: changed since
    `since` (imported, re-tagged, moved, opted back in: see members.audience_changed_at),
    not opted out, and with no row in this campaign, so nobody is texted or called twice."""
    rows: type[OutboundMessage] | type[Call] = (
        Call if campaign.channel == Channel.VOICE else OutboundMessage
    )
    return [
        Member.audience_changed_at >= since,
        Member.opted_out_at.is_(None),
        ~exists().where(rows.campaign_id == campaign.id, rows.member_id == Member.id),
    ]
