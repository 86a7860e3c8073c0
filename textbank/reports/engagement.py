"""Engagement reports per local and per campaign, against the organizing goals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    distinct,
    func,
    or_,
    select,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from textbank.campaigns.counts import all_message_counts, message_counts
from textbank.db import dialect_name
from textbank.members.fields import normalize_local
from textbank.models import (
    VOLUNTEER_OUTCOME,
    Call,
    Campaign,
    InboundMessage,
    Local,
    Member,
    MemberCount,
    OutboundMessage,
    Outcome,
    is_first_text,
)
from textbank.reports.calls import add_up, call_measures_by, voice_campaign_measures
from textbank.reports.calls import empty as empty_calls
from textbank.reports.measures import CONVERSATIONAL, campaign_opt_outs
from textbank.twilio.codes import NOT_DELIVERED, CallStatus, MessageStatus

ALL = "all"  # _recount's grouping for one row over every campaign: a report's total
TOTAL = "total"  # _recount's key for that total when it comes with the rows (rollup)

# Every member a 1-on-1 conversation; half take an action; one in ten become activists.
DEFAULT_GOALS = {"conversation": 1.0, "action": 0.5, "activist": 0.1}
MEASURES = ("members", "texted", "delivered", "failed", "replied", "acted", "volunteers",
            "opted_out")  # fmt: skip
OUT, INB, OC, M, CALL = OutboundMessage, InboundMessage, Outcome, Member, Call


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

    @property
    def one_local_only(self) -> bool:
        """Filtered to a local and nothing else: the per-local counts, one row of them."""
        return self.campaign_id is None and not (self.since or self.until)

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


def _in_range(column: Any, f: ReportFilter) -> list:
    clauses = []
    if f.since:
        clauses.append(column >= f.since)
    if f.until:
        clauses.append(column < f.until)
    return clauses


def _fast_by_local(session: Session) -> dict[int | None, dict[str, int]]:
    """The report with no filter, from the counters the database keeps per local (the
    members' engagement firsts), not a pass over every member."""
    MC = MemberCount
    rows = session.execute(
        select(
            MC.local_key,
            *(func.sum(column) for column in (MC.members, MC.texted, MC.delivered, MC.failed,
              MC.replied, MC.acted, MC.volunteered, MC.opted_out)),
        ).group_by(MC.local_key)
    )  # fmt: skip
    counts = {r[0] or None: dict(zip(MEASURES, map(int, r[1:]), strict=True)) for r in rows}
    return {k: v for k, v in counts.items() if v["members"]}  # a merged local's empty rows


def _recount(
    session: Session, by: str, f: ReportFilter, texts: bool = True, rollup: bool = False
) -> dict[int | str | None, dict[str, int]]:
    """Distinct members per measure straight from the event tables (filters, recounts).

    by is "local", "campaign", or ALL: one group (key None) counting each member once
    across every campaign, the per-campaign report's total. With `rollup` (by campaign,
    on PostgreSQL) the same queries also count that total, under the key TOTAL, from the
    same pass (GROUPING SETS) for the measures taken from replies and outcomes.
    """
    out: dict = defaultdict(dict)
    rollup = rollup and by == "campaign" and dialect_name(session) == "postgresql"
    local_number = f.local_number()
    # The local's id, looked up first: with it the planner walks that local's members by
    # index instead of guessing how many a join through locals would find.
    local_id = None
    if local_number:
        local_id = session.scalar(select(Local.id).where(Local.number == local_number)) or -1

    def grouping(campaign_col) -> list:
        if by == "local":
            return [M.local_id]
        return [campaign_col] if by == "campaign" else []

    def scoped(query, table, member_col, campaign_col, time_col=None):
        if table is not M and (local_id or by == "local"):
            query = query.join(M, M.id == member_col)
        if local_id:
            query = query.where(M.local_id == local_id)
        if f.campaign_id is not None and campaign_col is not None:
            query = query.where(campaign_col == f.campaign_id)
        if time_col is not None:
            query = query.where(*_in_range(time_col, f))
        if by != "local" and campaign_col is not None:
            query = query.where(campaign_col.is_not(None))
        return query

    def grouped(query, key: list):
        return (
            query.group_by(func.grouping_sets(*key, tuple_())) if rollup else query.group_by(*key)
        )

    def slot(group: list):
        # A campaign's key is never NULL (filtered out), so a NULL one is the rollup's total.
        value = group[0] if group else None
        return TOTAL if rollup and value is None else value

    def run(measure: str, table, member_col, campaign_col, where: list, time_col=None) -> None:
        key = grouping(campaign_col)
        query = select(*key, func.count(distinct(member_col))).select_from(table).where(*where)
        query = scoped(query, table, member_col, campaign_col, time_col)
        for *group, count in session.execute(grouped(query, key)):
            out[slot(group)][measure] = count

    one_pass = by == "campaign" and not (local_number or f.since or f.until)
    if not texts:
        pass  # the caller has the measures taken from the texts another way
    elif one_pass:
        # One row per member and campaign (a unique key), so the counters the database
        # keeps per campaign and status are distinct counts of members.
        counts = (
            message_counts(session, [f.campaign_id])
            if f.campaign_id is not None
            else all_message_counts(session)
        )
        for campaign_id, c in counts.items():
            out[campaign_id].update(members=c.total, texted=c.sent, delivered=c.delivered,
                                    failed=c.failed)  # fmt: skip
    elif by == "campaign":
        # One pass over the texts for every measure taken from them. Within one campaign
        # a member has one text (a unique key), so plain counts are distinct counts there.
        # (Voice campaigns' rows come from their calls: see voice_campaign_measures.)
        key = grouping(OUT.campaign_id)

        def n(*where) -> ColumnElement:
            return func.count().filter(and_(*where)) if where else func.count()

        query = select(
            *key,
            n(),
            n(OUT.twilio_sid.is_not(None), *_in_range(OUT.sent_at, f)),
            n(OUT.status == MessageStatus.DELIVERED, *_in_range(OUT.delivered_at, f)),
            n(OUT.status.in_(NOT_DELIVERED), *_in_range(OUT.updated_at, f)),
        ).select_from(OUT)
        query = query.where(is_first_text(OUT))  # not a reply to a member
        query = scoped(query, OUT, OUT.member_id, OUT.campaign_id).group_by(*key)
        for *group, members, texted, delivered, failed in session.execute(query):
            row = out[group[0] if group else None]
            row.update(texted=texted, delivered=delivered, failed=failed, members=members)
    else:
        # Members across campaigns (per local, or the total): texts and calls alike, each
        # member once, as the members' firsts count them unfiltered. Called is texted, a
        # call answered (by a person or a recorder) delivered, a call failed for good failed.
        parts = []
        for table, member_col, campaign_col, texted, delivered, failed, where in (
            (OUT, OUT.member_id, OUT.campaign_id,
             and_(OUT.twilio_sid.is_not(None), *_in_range(OUT.sent_at, f)),
             and_(OUT.status == MessageStatus.DELIVERED, *_in_range(OUT.delivered_at, f)),
             and_(OUT.status.in_(NOT_DELIVERED), *_in_range(OUT.updated_at, f)),
             [is_first_text(OUT)]),  # not a reply to a member
            (CALL, CALL.member_id, CALL.campaign_id,
             and_(CALL.placements > 0, *_in_range(CALL.placed_at, f)),
             or_(and_(CALL.answered_at.is_not(None), *_in_range(CALL.answered_at, f)),
                 and_(CALL.voicemail_at.is_not(None), *_in_range(CALL.voicemail_at, f))),
             and_(CALL.status == CallStatus.FAILED, *_in_range(CALL.ended_at, f)), []),
        ):  # fmt: skip
            key = [k.label("grp") for k in grouping(campaign_col)]
            query = select(*key, member_col.label("member_id"), texted.label("texted"),
                           delivered.label("delivered"), failed.label("failed"))  # fmt: skip
            parts.append(scoped(query.select_from(table).where(*where), table, member_col,
                                campaign_col))  # fmt: skip
        both = union_all(*parts).subquery()
        key = [both.c.grp] if "grp" in both.c else []
        member = distinct(both.c.member_id)
        query = select(
            *key,
            func.count(member),
            func.count(member).filter(both.c.texted),
            func.count(member).filter(both.c.delivered),
            func.count(member).filter(both.c.failed),
        ).group_by(*key)
        for *group, members, texted, delivered, failed in session.execute(query):
            row = out[group[0] if group else None]
            row.update(texted=texted, delivered=delivered, failed=failed)
            if by != "local" or f.campaign_id is not None:
                row["members"] = members  # the members a campaign's launch wrote to or called
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
        return out
    # The texts' part walks each campaign's failed texts by index, not all texts.
    ids = [f.campaign_id] if f.campaign_id is not None else _campaign_ids(session)
    _campaign_opt_outs(session, out, grouping, scoped, ids, grouped, slot)
    return out


def _campaign_total(session: Session, others: dict[str, int] | None) -> dict[str, int]:
    """The per-campaign report's total, each member once, without walking every text.

    The engagement firsts (their counters) say who was ever texted, delivered or failed (a
    refused text marks failed too); members in a campaign never texted (waiting, held,
    refused) are the few never-texted members with a text Twilio never took. Replies,
    outcomes and opt-outs are recounted from their own (small) tables.
    """
    by_local = _fast_by_local(session).values()
    texted, delivered, failed = (
        sum(c[m] for c in by_local) for m in ("texted", "delivered", "failed")
    )
    # Never texted but in a campaign: Twilio took none of their texts (waiting, held,
    # refused), found by the index of such texts alone.
    unsent = (OUT.twilio_sid.is_(None), OUT.conversation_id.is_(None))
    never_texted: int = (
        session.scalar(
            select(func.count(distinct(OUT.member_id)))
            .join(M, M.id == OUT.member_id)
            .where(*unsent, M.first_texted_at.is_(None))
        )
        or 0
    )
    if others is None:  # replies, outcomes, opt-outs over every campaign at once
        others = _recount(session, ALL, ReportFilter(), texts=False).get(None, {})
    return {**others, "members": texted + never_texted, "texted": texted,
            "delivered": delivered, "failed": failed}  # fmt: skip


def _campaign_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Campaign.id)))


def _campaign_opt_outs(
    session: Session, out: dict, grouping, scoped, ids: list[int], grouped, slot
) -> None:
    """Members who opted out in answer to a campaign: a STOP back, or the carrier's 21610."""
    parts = []
    for table, member_col, campaign_col, time_col in (
        (INB, INB.member_id, INB.campaign_id, INB.created_at),
        (OUT, OUT.member_id, OUT.campaign_id, OUT.updated_at),
    ):
        key = [k.label("grp") for k in grouping(campaign_col)]
        query = select(*key, member_col.label("member_id")).select_from(table)
        query = query.where(*campaign_opt_outs(table))
        if table is OUT:
            query = query.where(OUT.campaign_id.in_(ids))
        parts.append(scoped(query, table, member_col, campaign_col, time_col))
    both = union(*parts).subquery()
    key = [both.c.grp] if "grp" in both.c else []
    query = grouped(select(*key, func.count(distinct(both.c.member_id))), key)
    for *group, count in session.execute(query):
        out[slot(group)]["opted_out"] = count


def engagement(session: Session, by: str, f: ReportFilter | None = None) -> dict:
    """{"rows": [...], "total": {...}}: the contract's engagement report."""
    if by not in ("local", "campaign"):
        raise ValueError("by must be local or campaign")
    f = f or ReportFilter()
    if by == "local" and f.one_local_only:
        # The members' own firsts count texts and calls alike; the loop below keeps the
        # filtered local's row.
        counts: dict = _fast_by_local(session)
    else:
        counts = _recount(session, by, f, rollup=by == "campaign" and f.is_empty)
    rolled_up = counts.pop(TOTAL, None)
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
            rows.append({"campaign": campaign.name, "campaign_id": campaign.id,
                         **_row(measures, goals_of(campaign))})  # fmt: skip
        # Voice campaigns: a member called counts as texted, one reached as delivered.
        voiced = voice_campaign_measures(session, f, set())
        by_calls = {campaign.id for campaign, _ in voiced}
        rows = [r for r in rows if r["campaign_id"] not in by_calls]
        for campaign, measures in voiced:
            rows.append({"campaign": campaign.name, "campaign_id": campaign.id,
                         **_row(measures, goals_of(campaign))})  # fmt: skip
        rows.sort(key=lambda r: r["campaign_id"])
    if by == "local":  # each member is in one local, so the rows add up
        total = {m: sum(r[m] for r in rows) for m in MEASURES}
    elif f.is_empty:  # a member texted by two campaigns is one member, not two
        total = _campaign_total(session, rolled_up)
    else:
        total = _recount(session, ALL, f).get(None, {})
    calls = call_measures_by(session, by, f.campaign_id, f.local_number(), (f.since, f.until))
    local_ids: dict[str, int | None] = {}
    if by == "local":
        numbers: dict[str, int] = dict(session.execute(select(Local.number, Local.id)).all())
        local_ids = {row["local"]: numbers.get(row["local"]) for row in rows}
    for row in rows:
        key = row["campaign_id"] if by == "campaign" else local_ids.get(row["local"])
        row.update(calls.get(key) or empty_calls())
    return {"rows": rows, "total": {**_row(total, DEFAULT_GOALS), **add_up(rows)}}
