"""Changing a campaign: edit a draft, schedule it, duplicate it, archive it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from textbank.campaigns.audience import changed_since
from textbank.campaigns.lifecycle import CampaignError, check_audience, validate_campaign
from textbank.campaigns.watching import new_members
from textbank.models import Campaign, CampaignStatus


def copy_json(value):
    """A JSON column's value, copied: the copy's later edits leave the original alone."""
    return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value


BUSY = (CampaignStatus.LAUNCHING, CampaignStatus.SENDING)


def update_campaign(session: Session, campaign: Campaign, data: Mapping) -> Campaign:
    """Rewrite a draft from a full definition; a launched campaign's texts are fixed."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}: only a draft changes")
    values = validate_campaign(data)
    check_audience(session, values["audience"])
    for key, value in values.items():
        setattr(campaign, key, value)
    return campaign


def duplicate_campaign(session: Session, campaign: Campaign) -> Campaign:
    """A new draft with the same script, audience, keywords and goals."""
    copy = Campaign(
        name=f"Copy of {campaign.name}"[:200],
        kind=campaign.kind,
        channel=campaign.channel,
        message=campaign.message,
        translations=dict(campaign.translations),
        audience=dict(campaign.audience),
        keywords=dict(campaign.keywords),
        replies=dict(campaign.replies),
        goals=dict(campaign.goals or {}),
        status=CampaignStatus.DRAFT,
    )
    # The conversation settings too: a copy of a peer-to-peer campaign is one.
    for name in ("mode", "survey", "batch_size", "reclaim_minutes", "volunteer_replies"):
        setattr(copy, name, copy_json(getattr(campaign, name)))
    copy.canned_responses = copy_json(campaign.canned_responses or [])
    session.add(copy)
    session.flush()
    return copy


def set_archived(campaign: Campaign, archived: bool, now: datetime) -> None:
    """Archive a campaign that is not texting anyone (it leaves the list), or bring it back."""
    if archived and campaign.status in BUSY:
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}: pause it first")
    if archived:
        campaign.scheduled_at = None  # an archived draft must not launch by itself
    campaign.archived_at = now if archived else None


def schedule(campaign: Campaign, when: datetime | None, now: datetime) -> None:
    """Launch a draft at `when` (None cancels); at least a minute ahead, within a year."""
    if campaign.status != CampaignStatus.DRAFT or campaign.archived_at is not None:
        raise CampaignError(
            f"campaign {campaign.id} is {campaign.status}: only a draft is scheduled"
        )
    if when is not None:
        if when.tzinfo is None:
            raise CampaignError("the launch time needs a time zone")
        if when < now + timedelta(minutes=1):
            raise CampaignError("the launch time has passed: pick one at least a minute ahead")
        if when > now + timedelta(days=366):
            raise CampaignError("the launch time is more than a year ahead")
    campaign.scheduled_at = when


def reopen_for_new_members(session: Session, campaign: Campaign) -> int:
    """Walk the audience again for members now in it with no row in the campaign (imported,
    re-tagged, moved or opted back in since the launch); returns how many. Only members with
    no row are added, and rows are unique per member and campaign: nobody twice."""
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.COMPLETED):
        hint = {
            CampaignStatus.DRAFT.value: "launch it first",
            CampaignStatus.PAUSED.value: "resume it first",
        }.get(campaign.status, "wait for its launch to finish")
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}: {hint}")
    added = new_members(session, campaign)
    if added:
        # Snapshotting again from the start, over members changed since the launch; the
        # progress bar's end is what is done plus those to add.
        campaign.topup_since = changed_since(campaign)
        campaign.snapshot_cursor = 0
        campaign.status = CampaignStatus.LAUNCHING
        campaign.completed_at = None
        campaign.snapshotted_at = None
        campaign.audience_size = (campaign.snapshot_done or 0) + added
    return added


def is_due(campaign: Campaign, when: datetime) -> bool:
    """A scheduled launch for `when` still stands: a draft, not archived, not moved."""
    return (
        campaign.status == CampaignStatus.DRAFT
        and campaign.archived_at is None
        and campaign.scheduled_at is not None
        and abs((campaign.scheduled_at - when).total_seconds()) < 1
    )
