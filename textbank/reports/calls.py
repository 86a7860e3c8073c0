"""Call measures per local or per campaign, for the engagement report and the dashboard."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from textbank.models import VOLUNTEER_OUTCOME, Call, Campaign, Local, Member, Outcome, OutcomeSource
from textbank.twilio.codes import CallStatus

CALL_MEASURES = ("calls_placed", "calls_answered", "voicemails", "calls_opted_out",
                 "calls_no_answer", "calls_busy", "calls_failed", "call_minutes")  # fmt: skip
C, OC, M = Call, Outcome, Member


def empty() -> dict[str, Any]:
    return {**dict.fromkeys(CALL_MEASURES, 0), "calls_pressed": {}}


def call_measures_by(
    session: Session, by: str, campaign_id: int | None = None, local_number: str | None = None,
    time_range: tuple = (None, None),
) -> dict[Any, dict[str, Any]]:  # fmt: skip
    """{local id or campaign id: measures}: calls (attempts placed), answered by a person,
    voicemails left, pressed 9, unanswered ends, minutes; and who pressed what, per outcome."""
    since, until = time_range
    key: Any = M.local_id if by == "local" else C.campaign_id
    where: list[ColumnElement] = []
    if campaign_id is not None:
        where.append(C.campaign_id == campaign_id)
    if local_number is not None:
        where.append(Local.number == local_number)
    if since is not None:
        where.append(C.placed_at >= since)
    if until is not None:
        where.append(C.placed_at < until)
    query = (
        select(
            key,
            func.coalesce(func.sum(C.placements), 0),
            func.count().filter(C.answered_at.is_not(None), C.voicemail_at.is_(None)),
            func.count(C.voicemail_at),
            func.count().filter(C.digits == "9"),
            func.count().filter(C.status == CallStatus.NO_ANSWER),
            func.count().filter(C.status == CallStatus.BUSY),
            func.count().filter(C.status == CallStatus.FAILED),
            func.coalesce(func.sum(C.seconds), 0),
        )
        .select_from(C)
        .join(M, M.id == C.member_id)
        .outerjoin(Local, Local.id == M.local_id)
        .where(*where)
        .group_by(key)
    )
    out: dict[Any, dict[str, Any]] = defaultdict(empty)
    for group, *values in session.execute(query):
        row = out[group]
        for name, value in zip(CALL_MEASURES, values, strict=True):
            row[name] = int(value)
        row["call_minutes"] = round(row["call_minutes"] / 60, 1)
    okey: Any = M.local_id if by == "local" else OC.campaign_id
    pressed = (
        select(okey, OC.name, func.count(func.distinct(OC.member_id)))
        .select_from(OC)
        .join(M, M.id == OC.member_id)
        .outerjoin(Local, Local.id == M.local_id)
        .where(OC.source == OutcomeSource.VOICE, OC.campaign_id.is_not(None))
        .group_by(okey, OC.name)
    )
    if campaign_id is not None:
        pressed = pressed.where(OC.campaign_id == campaign_id)
    if local_number is not None:
        pressed = pressed.where(Local.number == local_number)
    if since is not None:
        pressed = pressed.where(OC.created_at >= since)
    if until is not None:
        pressed = pressed.where(OC.created_at < until)
    for group, name, count in session.execute(pressed):
        out[group]["calls_pressed"][name] = count
    return dict(out)


def add_up(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = empty()
    for row in rows:
        for name in CALL_MEASURES:
            total[name] += row.get(name, 0)
        for outcome, n in row.get("calls_pressed", {}).items():
            total["calls_pressed"][outcome] = total["calls_pressed"].get(outcome, 0) + n
    total["call_minutes"] = round(total["call_minutes"], 1)
    return total


def _in_range(column: Any, since: Any, until: Any) -> list[ColumnElement]:
    return [c for c in (column >= since if since else None,
                        column < until if until else None) if c is not None]  # fmt: skip


def voice_campaign_measures(session: Session, f: Any, skip: set) -> list[tuple[Campaign, dict]]:
    """The report's measures for voice campaigns, from their calls and outcomes, counted as
    texts are: called is texted, reached (a person or a recorder) delivered, a call failed
    for good failed; within the filter's local and, for each, when it happened."""
    since, until = f.since, f.until
    local_number = f.local_number()

    def n(*where: ColumnElement) -> ColumnElement:
        return func.count().filter(and_(*where))

    query = (
        select(
            C.campaign_id,
            func.count(),
            n(C.placements > 0, *_in_range(C.placed_at, since, until)),
            n(or_(and_(C.answered_at.is_not(None), *_in_range(C.answered_at, since, until)),
                  and_(C.voicemail_at.is_not(None), *_in_range(C.voicemail_at, since, until)))),
            n(C.status == CallStatus.FAILED, *_in_range(C.ended_at, since, until)),
            n(M.opted_out_at.is_not(None), *_in_range(M.opted_out_at, since, until)),
        )
        .join(M, M.id == C.member_id)
        .group_by(C.campaign_id)
    )  # fmt: skip
    named_query = (
        select(OC.campaign_id, OC.name, func.count(func.distinct(OC.member_id)))
        .join(M, M.id == OC.member_id)
        .where(*_in_range(OC.created_at, since, until))
        .group_by(OC.campaign_id, OC.name)
    )
    if f.campaign_id is not None:
        query = query.where(C.campaign_id == f.campaign_id)
    if local_number is not None:
        local = select(Local.id).where(Local.number == local_number).scalar_subquery()
        query = query.where(M.local_id == local)
        named_query = named_query.where(M.local_id == local)
    found = {row[0]: row[1:] for row in session.execute(query) if row[0] not in skip}
    if not found:
        return []
    named = session.execute(named_query.where(OC.campaign_id.in_(list(found)))).all()
    outcomes = [(cid, name == VOLUNTEER_OUTCOME, n) for cid, name, n in named]
    # Members skipped at launch as opted out are the campaign's whole audience's, not a
    # local's nor a date range's.
    whole = local_number is None and not (since or until)
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(list(found)))):
        members, texted, delivered, failed, opted_out = found[campaign.id]
        skipped = campaign.skipped_opted_out if whole else 0
        acted = sum(n for cid, vol, n in outcomes if cid == campaign.id and not vol)
        volunteers = sum(n for cid, vol, n in outcomes if cid == campaign.id and vol)
        out.append((campaign, {"members": members + skipped, "texted": texted,
                               "delivered": delivered, "failed": failed, "replied": 0,
                               "acted": acted, "volunteers": volunteers,
                               "opted_out": opted_out + skipped}))  # fmt: skip
    return out
