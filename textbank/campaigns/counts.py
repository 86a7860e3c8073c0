"""Per-campaign message counts, read from the counters the database keeps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.models import CampaignMessageCount
from textbank.twilio.codes import NOT_DELIVERED, MessageStatus

C = CampaignMessageCount


@dataclass
class MessageCounts:
    """A campaign's texts by status, and how many of them Twilio accepted (sent)."""

    by_status: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    segments: int = 0  # billed: the segments of the texts Twilio accepted

    def of(self, *statuses: str) -> int:
        return sum(self.by_status.get(s, 0) for s in statuses)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def queued(self) -> int:
        return self.of(MessageStatus.PENDING, MessageStatus.SENDING)

    @property
    def deferred(self) -> int:
        return self.of(MessageStatus.DEFERRED)

    @property
    def delivered(self) -> int:
        return self.of(MessageStatus.DELIVERED)

    @property
    def failed(self) -> int:
        return self.of(*NOT_DELIVERED)

    @property
    def finished(self) -> int:
        """Texts with nothing left to do: sent (whatever came next), failed or skipped."""
        return self.total - self.queued - self.deferred


def message_counts(session: Session, campaign_ids: Iterable[int]) -> dict[int, MessageCounts]:
    """{campaign id: counts} for each campaign asked about (empty counts when it has none).

    A few dozen counter rows per campaign, where counting the texts themselves walks every
    row of every campaign (seconds on a union's millions of texts).
    """
    ids = sorted(set(campaign_ids))
    out = {cid: MessageCounts() for cid in ids}
    if not ids:
        return out
    rows = session.execute(
        select(C.campaign_id, C.status, C.sent, func.sum(C.n), func.sum(C.segments))
        .where(C.campaign_id.in_(ids))
        .group_by(C.campaign_id, C.status, C.sent)
    )
    _add(out, rows)
    return out


def all_message_counts(session: Session) -> dict[int, MessageCounts]:
    """Counts for every campaign that has texts."""
    out: dict[int, MessageCounts] = {}
    rows = session.execute(
        select(C.campaign_id, C.status, C.sent, func.sum(C.n), func.sum(C.segments)).group_by(
            C.campaign_id, C.status, C.sent
        )
    )
    _add(out, rows)
    return {cid: counts for cid, counts in out.items() if counts.total}


def _add(out: dict[int, MessageCounts], rows) -> None:
    for campaign_id, status, sent, n, segments in rows:
        counts = out.setdefault(campaign_id, MessageCounts())
        n = int(n or 0)
        if n:
            counts.by_status[status] = counts.by_status.get(status, 0) + n
        if sent:
            counts.sent += n
            counts.segments += int(segments or 0)
