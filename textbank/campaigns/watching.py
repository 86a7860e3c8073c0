"""A campaign's live page: where its texts stand, when deferred ones go, what came back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.campaigns.audience import audience_filter, changed_since, not_yet_reached
from textbank.campaigns.counts import message_counts
from textbank.campaigns.lifecycle import campaign_stats
from textbank.campaigns.listing import CampaignState, replies_waiting, state_of
from textbank.models import (
    Campaign,
    CampaignMode,
    CampaignStatus,
    Channel,
    OutboundMessage,
    User,
    is_first_text,
    utcnow,
)
from textbank.twilio.codes import MessageStatus, error_meaning

OUT = OutboundMessage


@dataclass
class VolunteerBatch:
    email: str
    held: int  # first texts in the volunteer's batch, not sent yet
    sent: int  # first texts the volunteer has sent in this campaign


@dataclass
class P2PProgress:
    """Where a peer-to-peer campaign's first texts are: waiting for a volunteer, in a
    volunteer's batch, or sent (the Texted count) — and each volunteer's share."""

    waiting: int
    in_batches: int
    volunteers: list[VolunteerBatch]


def p2p_progress(session: Session, campaign: Campaign) -> P2PProgress:
    held = message_counts(session, [campaign.id])[campaign.id].of(MessageStatus.HELD)
    # One index probe per person (on volunteer, campaign, status) rather than a walk over
    # the campaign's every row: a campaign has far more members than volunteers.
    first = (OUT.volunteer_id == User.id, OUT.campaign_id == campaign.id, is_first_text(OUT))
    in_batch = select(func.count()).where(*first, OUT.status == MessageStatus.HELD)
    sent = select(func.count()).where(
        *first, OUT.status.not_in((MessageStatus.HELD, MessageStatus.SKIPPED))
    )
    rows = session.execute(
        select(User.email, in_batch.scalar_subquery(), sent.scalar_subquery()).order_by(User.email)
    )
    volunteers = [VolunteerBatch(email, h, n) for email, h, n in rows if h or n]
    in_batches = sum(v.held for v in volunteers)
    return P2PProgress(max(held - in_batches, 0), in_batches, volunteers)


@dataclass
class CampaignView:
    campaign: Campaign
    state: str
    stats: dict
    deferred_until: list[tuple[datetime, int]]  # when deferred texts go, and how many
    errors: list[dict]
    replies_waiting: int
    new_members: int  # joined the audience since launch, not texted yet
    changing: bool  # worth watching: texts still going, or receipts still coming in
    p2p: P2PProgress | None = None  # a launched peer-to-peer campaign's batches

    def to_dict(self) -> dict:
        return {
            "id": self.campaign.id,
            "state": self.state,
            **self.stats,
            "deferred_until": [{"at": at.isoformat(), "count": n} for at, n in self.deferred_until],
            "errors": self.errors,
            "replies_waiting": self.replies_waiting,
            "new_members": self.new_members,
            **({"p2p": asdict(self.p2p)} if self.p2p else {}),
        }


def deferred_schedule(session: Session, campaign_id: int, limit: int = 12) -> list:
    """(when, how many) of the deferred texts: each send window's opening in a zone."""
    rows = session.execute(
        select(OUT.send_after, func.count())
        .where(OUT.campaign_id == campaign_id, OUT.status == MessageStatus.DEFERRED)
        .group_by(OUT.send_after)
        .order_by(OUT.send_after)
        .limit(limit)
    )
    return [(at, n) for at, n in rows if at is not None]


def campaign_errors(session: Session, campaign_id: int) -> list[dict]:
    """[{code, meaning, count}] of its texts that were not delivered, most frequent first.

    The index of texts with an error answers it alone, not the campaign's every text.
    """
    rows = session.execute(
        select(OUT.error_code, func.count())
        .where(OUT.campaign_id == campaign_id, OUT.error_code.is_not(None))
        .group_by(OUT.error_code)
    )
    errors = [{"code": code, "meaning": error_meaning(code), "count": n} for code, n in rows]
    errors.sort(key=lambda e: (-int(e["count"] or 0), int(e["code"] or 0)))
    return errors


def new_members(session: Session, campaign: Campaign) -> int:
    """Members now in the audience with no row in the campaign and not opted out (imported
    since the launch, or re-tagged, moved, opted back in): the ones "Text new members"
    would add. Found by when members last changed, not by reading every member."""
    since = changed_since(campaign)
    if since is None or campaign.status == CampaignStatus.LAUNCHING:
        return 0
    return session.scalar(  # type: ignore[return-value]  # a count is never NULL
        select(func.count()).where(
            *not_yet_reached(campaign, since), *audience_filter(campaign.audience)
        )
    )


RECEIPTS_WAIT = timedelta(hours=1)  # carriers' receipts mostly come within minutes


def is_changing(campaign: Campaign, state: str, stats: dict, now: datetime) -> bool:
    if state in (CampaignState.SCHEDULED, CampaignStatus.LAUNCHING, CampaignStatus.SENDING):
        return True
    if stats["queued"]:
        return True
    if campaign.channel == Channel.VOICE:
        return False  # a call's end is its last news: no receipts to wait for
    awaiting = stats["sent"] - stats["delivered"] - stats["failed"]
    finished = campaign.completed_at
    return awaiting > 0 and finished is not None and now - finished < RECEIPTS_WAIT


def campaign_view(session: Session, campaign: Campaign) -> CampaignView:
    state = state_of(campaign)
    stats = campaign_stats(session, campaign)
    return CampaignView(
        campaign=campaign,
        state=state,
        stats=stats,
        changing=is_changing(campaign, state, stats, utcnow()),
        deferred_until=deferred_schedule(session, campaign.id),
        errors=campaign_errors(session, campaign.id),
        replies_waiting=replies_waiting(session, [campaign.id]).get(campaign.id, 0),
        new_members=new_members(session, campaign),
        p2p=p2p_progress(session, campaign)
        if campaign.mode == CampaignMode.P2P and campaign.launched_at
        else None,
    )
