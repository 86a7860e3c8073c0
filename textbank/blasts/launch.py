"""Launch: snapshot a campaign's audience into one outbound row per member, resumably."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from textbank.bulk import bulk_insert
from textbank.campaigns.audience import audience_members
from textbank.campaigns.lifecycle import CampaignError, check_audience
from textbank.campaigns.rendering import measure, render
from textbank.compliance.quiet_hours import SendWindow, WindowCheck, check
from textbank.members.phones import looks_e164, time_zones
from textbank.models import Campaign, CampaignStatus, Member, OutboundMessage, table, utcnow
from textbank.reports.digests import stats_by_local
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)

BUCKET = 1000  # outbound rows per send job, by row id
SNAPSHOT_CHUNK = 2000  # small first chunks get the first texts out within a second
ROW_COLUMNS = (
    "campaign_id", "member_id", "phone", "body", "language", "segments", "status",
    "send_after", "attempts", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class LaunchResult:
    campaign_id: int
    queued: int = 0
    skipped: dict[str, int] = field(
        default_factory=lambda: {"opted_out": 0, "invalid": 0, "duplicate": 0}
    )
    already_launched: bool = False

    def to_dict(self) -> dict:
        return {"queued": self.queued, "skipped": self.skipped}


def _begin(session: Session, campaign_id: int, now: datetime) -> tuple[Campaign, bool]:
    """Lock the campaign and move a draft to launching; True if there is snapshotting to do."""
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    if campaign.status == CampaignStatus.DRAFT:
        campaign.status = CampaignStatus.LAUNCHING
        campaign.launched_at = now
        return campaign, True
    return campaign, campaign.status == CampaignStatus.LAUNCHING


def _counts(session: Session, campaign: Campaign) -> LaunchResult:
    queued = session.scalar(select(func.count()).where(OutboundMessage.campaign_id == campaign.id))
    queued = queued or 0
    result = LaunchResult(campaign.id, queued=queued)
    result.skipped = {
        "opted_out": campaign.skipped_opted_out,
        "invalid": campaign.skipped_invalid,
        "duplicate": campaign.skipped_duplicate,
    }
    return result


def launch_campaign(
    sessions: sessionmaker[Session],
    campaign_id: int,
    window: SendWindow,
    on_buckets: Callable[[int, list[int]], object],
    now: Callable[[], datetime] = utcnow,
    chunk: int = SNAPSHOT_CHUNK,
) -> LaunchResult:
    """Snapshot the audience in chunks, handing each chunk's send buckets to `on_buckets`.

    Each chunk commits with the snapshot cursor, so a launch that dies part way is
    resumed by launching again; a launched campaign is not snapshotted twice.
    """
    with sessions.begin() as session:
        campaign, todo = _begin(session, campaign_id, now())
        if not todo:
            result = _counts(session, campaign)
            result.already_launched = True
            return result
        audience, cursor = campaign.audience, campaign.snapshot_cursor
        templates = {"": campaign.message, **campaign.translations}
        # Counts per local, computed once, for templates that text them back to leaders.
        local_stats = (
            stats_by_local(session) if any("{local_stats}" in t for t in templates.values()) else {}
        )
    seen_phones: set[str] = set()
    if cursor:  # resuming: phones already snapshotted count as seen
        with sessions() as session:
            seen_phones.update(
                session.scalars(
                    select(OutboundMessage.phone).where(OutboundMessage.campaign_id == campaign_id)
                )
            )
    total_rows = 0
    while True:
        with sessions.begin() as session:
            members = session.execute(
                audience_members(audience).where(Member.id > cursor).limit(chunk)
            ).all()
            if not members:
                break
            stamp = now()
            gates: dict[tuple[str, ...], WindowCheck] = {}  # one check per zone set per chunk
            rows, skipped = [], {"opted_out": 0, "invalid": 0, "duplicate": 0}
            for m in members:
                if m.opted_out_at is not None:
                    skipped["opted_out"] += 1
                    continue
                phone = m.phone
                if not looks_e164(phone):  # validated with phonenumbers when it came in
                    skipped["invalid"] += 1
                    continue
                if phone in seen_phones:
                    skipped["duplicate"] += 1
                    continue
                seen_phones.add(phone)
                template = templates.get(m.language) or templates[""]
                body = render(template, {**m._mapping, "local_stats": local_stats.get(m.local, "")})
                zones = time_zones(phone)
                gate = gates.get(zones) or gates.setdefault(zones, check(window, zones, stamp))
                deferred = not gate.open
                rows.append((
                    campaign_id, m.id, phone, body, m.language, measure(body).segments,
                    MessageStatus.DEFERRED if deferred else MessageStatus.PENDING,
                    gate.opens_at if deferred else None, 0, stamp, stamp,
                ))  # fmt: skip
            bulk_insert(session, table(OutboundMessage), ROW_COLUMNS, rows)
            new_cursor = members[-1].id
            session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(
                    snapshot_cursor=new_cursor,
                    skipped_opted_out=Campaign.skipped_opted_out + skipped["opted_out"],
                    skipped_invalid=Campaign.skipped_invalid + skipped["invalid"],
                    skipped_duplicate=Campaign.skipped_duplicate + skipped["duplicate"],
                )
            )
            buckets = list(
                session.scalars(
                    select(OutboundMessage.id // BUCKET)
                    .distinct()
                    .where(
                        OutboundMessage.campaign_id == campaign_id,
                        OutboundMessage.member_id > cursor,
                        OutboundMessage.member_id <= new_cursor,
                        OutboundMessage.status == MessageStatus.PENDING,
                    )
                )
            )
        cursor = new_cursor
        total_rows += len(rows)
        if buckets:
            on_buckets(campaign_id, sorted(buckets))
    with sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign_id)
        if campaign.status == CampaignStatus.LAUNCHING:
            campaign.status = CampaignStatus.SENDING
        result = _counts(session, campaign)
    log.info(
        "campaign %s launched: %d queued, skipped %s", campaign_id, result.queued, result.skipped
    )
    if result.queued == 0 and total_rows == 0:
        log.warning("campaign %s: nobody in the audience could be texted", campaign_id)
    return result


def ensure_launchable(session: Session, campaign: Campaign | None) -> None:
    """Refuse a launch that could text nobody, before anything is written."""
    if campaign is None:
        raise CampaignError("no such campaign")
    if campaign.status == CampaignStatus.DRAFT:
        check_audience(session, campaign.audience)
