"""Engagement reports per local and per campaign, against the organizing goals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.orm import Session

from textbank.engagement.marks import CONVERSATIONAL
from textbank.members.fields import normalize_local
from textbank.models import (
    VOLUNTEER_OUTCOME,
    Campaign,
    InboundMessage,
    Local,
    Member,
    OutboundMessage,
    Outcome,
)
from textbank.twilio.codes import NOT_DELIVERED, MessageStatus

# Every member a 1-on-1 conversation; half take an action; one in ten become activists.
DEFAULT_GOALS = {"conversation": 1.0, "action": 0.5, "activist": 0.1}
MEASURES = ("members", "texted", "delivered", "failed", "replied", "acted", "volunteers",
            "opted_out")  # fmt: skip
OUT, INB, OC, M = OutboundMessage, InboundMessage, Outcome, Member


@dataclass(frozen=True)
class ReportFilter:
    """What to count: one campaign, one local, events in a date range (all optional)."""

    campaign_id: int | None = None
    local: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return self.campaign_id is None and self.local is None and not (self.since or self.until)

    def local_number(self) -> str | None:
        return normalize_local(self.local) if self.local else None


def goals_of(campaign: Campaign | None) -> dict[str, float]:
    return {**DEFAULT_GOALS, **((campaign.goals or {}) if campaign else {})}


def _row(measures: dict[str, int], goals: dict[str, float]) -> dict:
    members = measures.get("members", 0)

    def rate(n: int) -> float:
        return round(n / members, 4) if members else 0.0

    row: dict[str, Any] = {m: measures.get(m, 0) for m in MEASURES}
    row.update(
        conversation_rate=rate(row["replied"]),
        action_rate=rate(row["acted"]),
        activist_rate=rate(row["volunteers"]),
        goals=goals,
    )
    row["progress"] = {
        "conversation": round(row["conversation_rate"] / goals["conversation"], 4),
        "action": round(row["action_rate"] / goals["action"], 4),
        "activist": round(row["activist_rate"] / goals["activist"], 4),
    }
    return row


def _in_range(column: ColumnElement, f: ReportFilter) -> list:
    clauses = []
    if f.since:
        clauses.append(column >= f.since)
    if f.until:
        clauses.append(column < f.until)
    return clauses


def _fast_by_local(session: Session) -> dict[int | None, dict[str, int]]:
    """One pass over members using the engagement firsts: the report with no filter."""
    rows = session.execute(
        select(
            M.local_id,
            func.count(),
            func.count(M.first_texted_at),
            func.count(M.first_delivered_at),
            func.count(M.first_failed_at),
            func.count(M.first_replied_at),
            func.count(M.first_acted_at),
            func.count(M.first_volunteered_at),
            func.count(M.opted_out_at),
        ).group_by(M.local_id)
    )
    return {r[0]: dict(zip(MEASURES, r[1:], strict=True)) for r in rows}


def _recount(session: Session, by: str, f: ReportFilter) -> dict[int | None, dict[str, int]]:
    """Distinct members per measure straight from the event tables (filters, recounts)."""
    out: dict = defaultdict(dict)
    local_number = f.local_number()
    for_local = [Local.number == local_number] if local_number else []

    def run(measure: str, table, member_col, campaign_col, where: list, time_col=None) -> None:
        key = M.local_id if by == "local" else campaign_col
        query = select(key, func.count(distinct(member_col))).select_from(table)
        if table is not M:
            query = query.join(M, M.id == member_col)
        query = query.outerjoin(Local, Local.id == M.local_id).where(*where, *for_local)
        if f.campaign_id is not None and campaign_col is not None:
            query = query.where(campaign_col == f.campaign_id)
        if time_col is not None:
            query = query.where(*_in_range(time_col, f))
        if by == "campaign":
            query = query.where(campaign_col.is_not(None))
        for group, count in session.execute(query.group_by(key)):
            out[group][measure] = count

    one_pass = by == "campaign" and not (local_number or f.since or f.until)
    if one_pass:
        # One first text per member and campaign (a unique key), so plain counts are
        # distinct counts: one pass over the messages, no join to members. A volunteer's
        # replies in a conversation are left out (the other runs count distinct members).
        query = (
            select(
                OUT.campaign_id,
                func.count(),
                func.count(OUT.twilio_sid),
                func.count().filter(OUT.status == MessageStatus.DELIVERED),
                func.count().filter(OUT.status.in_(NOT_DELIVERED)),
            )
            .where(OUT.conversation_id.is_(None))
            .group_by(OUT.campaign_id)
        )
        if f.campaign_id is not None:
            query = query.where(OUT.campaign_id == f.campaign_id)
        for campaign_id, members, texted, delivered, failed in session.execute(query):
            out[campaign_id].update(members=members, texted=texted, delivered=delivered,
                                    failed=failed)  # fmt: skip
    else:
        run("texted", OUT, OUT.member_id, OUT.campaign_id, [OUT.twilio_sid.is_not(None)],
            OUT.sent_at)  # fmt: skip
        run("delivered", OUT, OUT.member_id, OUT.campaign_id,
            [OUT.status == MessageStatus.DELIVERED], OUT.delivered_at)  # fmt: skip
        run("failed", OUT, OUT.member_id, OUT.campaign_id, [OUT.status.in_(NOT_DELIVERED)],
            OUT.updated_at)  # fmt: skip
    run("replied", INB, INB.member_id, INB.campaign_id,
        [INB.classification.in_(CONVERSATIONAL)], INB.created_at)  # fmt: skip
    run("acted", OC, OC.member_id, OC.campaign_id, [OC.name != VOLUNTEER_OUTCOME], OC.created_at)
    run(
        "volunteers",
        OC,
        OC.member_id,
        OC.campaign_id,
        [OC.name == VOLUNTEER_OUTCOME],
        OC.created_at,
    )
    if by == "local" and f.campaign_id is None:
        run("members", M, M.id, None, [])
        run("opted_out", M, M.id, None, [M.opted_out_at.is_not(None)], M.opted_out_at)
    else:  # a campaign's members are its audience: the rows its launch snapshotted
        if not one_pass:
            run("members", OUT, OUT.member_id, OUT.campaign_id, [])
        run("opted_out", OUT, OUT.member_id, OUT.campaign_id, [M.opted_out_at.is_not(None)])
    return out


def engagement(session: Session, by: str, f: ReportFilter | None = None) -> dict:
    """{"rows": [...], "total": {...}}: the contract's engagement report."""
    if by not in ("local", "campaign"):
        raise ValueError("by must be local or campaign")
    f = f or ReportFilter()
    counts = _fast_by_local(session) if by == "local" and f.is_empty else _recount(session, by, f)
    rows = []
    if by == "local":
        locals_: dict[int | None, str] = dict(session.execute(select(Local.id, Local.number)).all())
        for local_id, measures in counts.items():
            if f.local and locals_.get(local_id) != f.local_number():
                continue
            row = {"local": locals_.get(local_id, "(no local)")} if local_id else {
                "local": "(no local)"}  # fmt: skip
            rows.append({**row, **_row(measures, DEFAULT_GOALS)})
        rows.sort(key=lambda r: r["local"])
    else:
        chosen = select(Campaign).where(Campaign.id.in_(list(counts)))
        campaigns: dict[int | None, Campaign] = {c.id: c for c in session.scalars(chosen)}
        for campaign_id, measures in counts.items():
            campaign = campaigns.get(campaign_id)
            if campaign is None:
                continue
            if f.local is None and not (f.since or f.until):
                measures["members"] = measures.get("members", 0) + campaign.skipped_opted_out
                measures["opted_out"] = measures.get("opted_out", 0) + campaign.skipped_opted_out
            rows.append({"campaign": campaign.name, "campaign_id": campaign.id,
                         **_row(measures, goals_of(campaign))})  # fmt: skip
        rows.sort(key=lambda r: r["campaign_id"])
    total = {m: sum(r[m] for r in rows) for m in MEASURES}
    return {"rows": rows, "total": _row(total, DEFAULT_GOALS)}
