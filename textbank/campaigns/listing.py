"""The campaign list: each campaign's state, audience, progress and replies waiting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.campaigns.counts import MessageCounts, message_counts
from textbank.campaigns.lifecycle import CampaignError, describe_audience
from textbank.models import Campaign, CampaignKind, CampaignStatus, Conversation, ConversationStatus
from textbank.values import cursor

MAX_PAGE = 200


class CampaignState:
    """What a manager sees a campaign as: its status, or scheduled or archived."""

    SCHEDULED = "scheduled"
    ARCHIVED = "archived"
    ALL = (
        CampaignStatus.DRAFT.value,
        SCHEDULED,
        CampaignStatus.LAUNCHING.value,
        CampaignStatus.SENDING.value,
        CampaignStatus.PAUSED.value,
        CampaignStatus.COMPLETED.value,
        ARCHIVED,
    )


def state_of(campaign: Campaign) -> str:
    if campaign.archived_at is not None:
        return CampaignState.ARCHIVED
    if campaign.status == CampaignStatus.DRAFT and campaign.scheduled_at is not None:
        return CampaignState.SCHEDULED
    return campaign.status


def _mode_column():
    # Campaign modes (blast, p2p) come with the volunteer console; until then all are blasts.
    return getattr(Campaign, "mode", None)


@dataclass
class CampaignSummary:
    campaign: Campaign
    state: str
    counts: MessageCounts
    replies_waiting: int

    @property
    def audience(self) -> int | None:
        """Members the launch looked at (texted or skipped); None before launch."""
        c = self.campaign
        if c.launched_at is None:
            return None
        return self.counts.total + c.skipped_opted_out + c.skipped_invalid + c.skipped_duplicate

    @property
    def progress(self) -> float | None:
        """Share of the campaign's texts with nothing left to do; None before launch."""
        if self.campaign.launched_at is None or not self.counts.total:
            return None
        return self.counts.finished / self.counts.total

    def to_dict(self) -> dict:
        c = self.campaign
        mode = getattr(c, "mode", "blast")
        return {
            "id": c.id,
            "name": c.name,
            "kind": c.kind,
            "channel": c.channel,
            "mode": mode,
            "state": self.state,
            "status": c.status,
            "audience": self.audience,
            "audience_filter": describe_audience(c.audience),
            "texts": self.counts.total,
            "sent": self.counts.sent,
            "progress": None if self.progress is None else round(self.progress, 4),
            "replies_waiting": self.replies_waiting,
            "created_at": c.created_at.isoformat(),
            "scheduled_at": c.scheduled_at.isoformat() if c.scheduled_at else None,
            "launched_at": c.launched_at.isoformat() if c.launched_at else None,
            "completed_at": c.completed_at.isoformat() if c.completed_at else None,
            "archived_at": c.archived_at.isoformat() if c.archived_at else None,
        }


@dataclass
class CampaignPage:
    campaigns: list[CampaignSummary]
    next_cursor: str | None


def replies_waiting(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Open conversations per campaign: replies a volunteer has not answered yet."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(Conversation.campaign_id, func.count())
        .where(
            Conversation.campaign_id.in_(campaign_ids),
            Conversation.status == ConversationStatus.OPEN,
        )
        .group_by(Conversation.campaign_id)
    )
    return {cid: n for cid, n in rows if cid is not None}


def summarize(session: Session, campaigns: list[Campaign]) -> list[CampaignSummary]:
    ids = [c.id for c in campaigns]
    counts = message_counts(session, ids)
    waiting = replies_waiting(session, ids)
    return [CampaignSummary(c, state_of(c), counts[c.id], waiting.get(c.id, 0)) for c in campaigns]


def list_campaigns(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    mode: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> CampaignPage:
    """Newest first, archived ones only when asked for; `after` is a returned cursor."""
    if not 1 <= limit <= MAX_PAGE:
        raise CampaignError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(Campaign).where(Campaign.kind != CampaignKind.DIGEST)
    if state:
        if state not in CampaignState.ALL:
            raise CampaignError(f"state must be one of {', '.join(CampaignState.ALL)}")
        if state == CampaignState.ARCHIVED:
            query = query.where(Campaign.archived_at.is_not(None))
        else:
            query = query.where(Campaign.archived_at.is_(None))
            if state == CampaignState.SCHEDULED:
                query = query.where(
                    Campaign.status == CampaignStatus.DRAFT, Campaign.scheduled_at.is_not(None)
                )
            else:
                query = query.where(Campaign.status == state)
                if state == CampaignStatus.DRAFT:
                    query = query.where(Campaign.scheduled_at.is_(None))
    else:
        query = query.where(Campaign.archived_at.is_(None))
    if kind:
        allowed = [k.value for k in CampaignKind if k != CampaignKind.DIGEST]
        if kind not in allowed:
            raise CampaignError(f"kind must be one of {', '.join(allowed)}")
        query = query.where(Campaign.kind == kind)
    if mode:
        if mode not in ("blast", "p2p"):
            raise CampaignError("mode must be blast or p2p")
        column = _mode_column()
        if column is not None:
            query = query.where(column == mode)
        elif mode != "blast":
            query = query.where(Campaign.id.is_(None))
    if after:
        query = query.where(Campaign.id < cursor(after))
    rows = list(session.scalars(query.order_by(Campaign.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return CampaignPage(summarize(session, rows), str(rows[-1].id) if more else None)
