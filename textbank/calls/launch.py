"""Launch a voice campaign: the blast's resumable snapshot, writing one call row per member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Row, Select, Table
from sqlalchemy.orm import Session, sessionmaker

from textbank.blasts.launch import BUCKET, SNAPSHOT_CHUNK, LaunchResult, snapshot_audience
from textbank.compliance.quiet_hours import SendWindow, WindowCheck
from textbank.models import Call, CallOptOut, Campaign, Member, table, utcnow
from textbank.twilio.codes import CallStatus

__all__ = ["BUCKET", "CallRows", "launch_calls"]


class CallRows:
    """A voice campaign's rows: one call per member, minus the phones that pressed 9."""

    table: Table = table(Call)
    columns: tuple[str, ...] = (
        "campaign_id", "member_id", "phone", "language", "status", "send_after", "attempts",
        "placements", "seconds", "created_at", "updated_at",
    )  # fmt: skip
    pending: str = CallStatus.PENDING

    def __init__(self, session: Session, campaign: Campaign) -> None:
        self.campaign_id = campaign.id

    def members(self, query: Select) -> Select:
        return query.add_columns(CallOptOut.phone.label("no_calls")).outerjoin(
            CallOptOut, CallOptOut.phone == Member.phone
        )

    def opted_out(self, member: Row) -> bool:
        return member.no_calls is not None

    def row(self, member: Row, gate: WindowCheck, stamp: datetime) -> tuple:
        status = CallStatus.PENDING if gate.open else CallStatus.DEFERRED
        return (
            self.campaign_id, member.id, member.phone, member.language, status,
            None if gate.open else gate.opens_at, 0, 0, 0, stamp, stamp,
        )  # fmt: skip

    def complete_if_done(self, session: Session, campaign_id: int, now: datetime) -> bool:
        from textbank.calls.outbox import complete_if_done  # calls.outbox needs BUCKET from here

        return complete_if_done(session, campaign_id, now)


def launch_calls(
    sessions: sessionmaker[Session],
    campaign_id: int,
    window: SendWindow,
    on_buckets: Callable[[int, list[int]], object],
    now: Callable[[], datetime] = utcnow,
    chunk: int = SNAPSHOT_CHUNK,
    alive: Callable[[], object] = lambda: None,
    budget: float | None = None,
) -> LaunchResult:
    """Snapshot the audience into call rows (the blast's skips, plus the phones that pressed
    9): resumable chunk by chunk as a blast's, so nobody gets two call rows or is missed."""
    return snapshot_audience(sessions, campaign_id, window, on_buckets, now, chunk, alive,
                             budget, kind=CallRows)  # fmt: skip
