"""A voice campaign's counts: the contract's stats, and the call measures beside them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.models import Call, CallOptOut, Campaign, Member, table
from textbank.reports.calls import call_measures_by, empty
from textbank.twilio.codes import CALL_LIVE, CALL_UNFINISHED, CallStatus

C = table(Call)


# The contract's names for the report's call measures (GET .../stats "calls").
_STATS_NAMES = {
    "calls_placed": "placed", "calls_answered": "answered", "voicemails": "voicemail",
    "calls_pressed": "pressed", "calls_opted_out": "opted_out", "calls_no_answer": "no_answer",
    "calls_busy": "busy", "calls_failed": "failed", "call_minutes": "minutes",
}  # fmt: skip


def call_measures(session: Session, campaign_id: int) -> dict:
    """placed, answered (by a person), voicemail, pressed (per outcome), opted_out, no_answer,
    busy, failed, minutes: the report's call measures (reports/calls.py) for one campaign."""
    measures = call_measures_by(session, "campaign", campaign_id).get(campaign_id) or empty()
    return {name: measures[key] for key, name in _STATS_NAMES.items()}


def call_progress(session: Session, campaign_id: int) -> tuple[int, int]:
    """(calls waiting to be placed now or live, calls waiting for their window or a retry)."""
    counts: dict[str, int] = dict(
        session.execute(
            select(C.c.status, func.count())
            .where(C.c.campaign_id == campaign_id, C.c.status.in_(CALL_UNFINISHED))
            .group_by(C.c.status)
        ).all()
    )  # fmt: skip
    deferred = counts.pop(CallStatus.DEFERRED, 0)
    return sum(counts.values()), deferred


def voice_campaign_stats(session: Session, campaign: Campaign) -> dict:
    """The contract's stats for a voice campaign: "sent" is called, "delivered" is reached."""
    counts: dict[str, int] = dict(
        session.execute(
            select(C.c.status, func.count()).where(C.c.campaign_id == campaign.id)
            .group_by(C.c.status)
        ).all()
    )  # fmt: skip
    called, reached = session.execute(
        select(
            func.count().filter(C.c.placements > 0),
            func.count().filter((C.c.answered_at.is_not(None)) | (C.c.voicemail_at.is_not(None))),
        ).where(C.c.campaign_id == campaign.id)
    ).one()
    opted_out = session.scalar(
        select(func.count())
        .select_from(C)
        .join(Member, Member.id == C.c.member_id)
        .outerjoin(CallOptOut, CallOptOut.phone == C.c.phone)
        .where(C.c.campaign_id == campaign.id,
               Member.opted_out_at.is_not(None) | CallOptOut.phone.is_not(None))
    )  # fmt: skip
    c = lambda *statuses: sum(counts.get(s, 0) for s in statuses)  # noqa: E731
    return {
        "status": campaign.status,
        "members": sum(counts.values()),  # as in the report: the calls its launch wrote
        "audience": sum(counts.values())
        + campaign.skipped_opted_out
        + campaign.skipped_invalid
        + campaign.skipped_duplicate,
        "queued": c(CallStatus.PENDING, *CALL_LIVE),
        "sent": called,
        "delivered": reached,
        "failed": c(CallStatus.FAILED),
        "deferred": c(CallStatus.DEFERRED),
        "skipped": {
            "opted_out": campaign.skipped_opted_out + c(CallStatus.SKIPPED),
            "invalid": campaign.skipped_invalid,
            "duplicate": campaign.skipped_duplicate,
        },
        "segments": 0,
        "opted_out": campaign.skipped_opted_out + (opted_out or 0),
        "calls": call_measures(session, campaign.id),
    }
