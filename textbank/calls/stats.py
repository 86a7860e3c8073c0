"""A voice campaign's counts: the contract's stats, and the call measures beside them."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from textbank.models import Call, CallOptOut, Campaign, Member, Outcome, OutcomeSource, table
from textbank.twilio.codes import CALL_LIVE, CALL_UNFINISHED, CallStatus

C = table(Call)


def call_measures(session: Session, campaign_id: int) -> dict:
    """placed, answered (by a person), voicemail, pressed (per outcome), opted_out, no_answer,
    busy, failed, minutes: what happened on this campaign's calls."""
    row = session.execute(
        select(
            func.coalesce(func.sum(C.c.placements), 0),
            func.count().filter(C.c.answered_at.is_not(None), C.c.voicemail_at.is_(None)),
            func.count(C.c.voicemail_at),
            func.count().filter(C.c.digits == "9"),
            func.count().filter(C.c.status == CallStatus.NO_ANSWER),
            func.count().filter(C.c.status == CallStatus.BUSY),
            func.count().filter(C.c.status == CallStatus.FAILED),
            func.coalesce(func.sum(C.c.seconds), 0),
        ).where(C.c.campaign_id == campaign_id)
    ).one()
    pressed = dict(
        session.execute(
            select(Outcome.name, func.count(distinct(Outcome.member_id)))
            .where(Outcome.campaign_id == campaign_id, Outcome.source == OutcomeSource.VOICE)
            .group_by(Outcome.name)
        ).all()
    )
    placed, answered, voicemail, opted_out, no_answer, busy, failed, seconds = row
    return {
        "placed": int(placed), "answered": answered, "voicemail": voicemail,
        "pressed": pressed, "opted_out": opted_out, "no_answer": no_answer, "busy": busy,
        "failed": failed, "minutes": round(int(seconds) / 60, 1),
    }  # fmt: skip


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
