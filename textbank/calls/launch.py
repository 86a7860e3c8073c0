"""Launch a voice campaign: snapshot its audience into one call row per member, resumably."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from textbank.blasts.launch import LaunchResult, begin_launch, launch_state, snapshotting
from textbank.bulk import bulk_insert
from textbank.campaigns.audience import audience_members, not_yet_reached
from textbank.compliance.quiet_hours import SendWindow, WindowCheck, check
from textbank.members.phones import looks_e164, time_zones
from textbank.models import Call, CallOptOut, Campaign, CampaignStatus, Member, table, utcnow
from textbank.twilio.codes import CallStatus

log = logging.getLogger(__name__)

BUCKET = 1000  # call rows per placing job, by row id
SNAPSHOT_CHUNK = 2000
ROW_COLUMNS = (
    "campaign_id", "member_id", "phone", "language", "status", "send_after", "attempts",
    "placements", "seconds", "created_at", "updated_at",
)  # fmt: skip


def _counts(campaign: Campaign, already: bool) -> LaunchResult:
    state = launch_state(campaign)
    return LaunchResult(campaign.id, state["queued"], state["skipped"], already)


def _lock(session: Session, campaign_id: int) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    return campaign


def launch_calls(
    sessions: sessionmaker[Session],
    campaign_id: int,
    window: SendWindow,
    on_buckets: Callable[[int, list[int]], object],
    now: Callable[[], datetime] = utcnow,
    chunk: int = SNAPSHOT_CHUNK,
    alive: Callable[[], object] = lambda: None,
) -> LaunchResult:
    """Snapshot the audience (the blast's skips, plus the phones that pressed 9) in chunks.

    As the blast's snapshot: each chunk locks the campaign, starts at its committed cursor
    and commits with it, so a run killed part way is finished by running again and two runs
    take turns; nobody gets two call rows, nobody is missed.
    """
    with sessions.begin() as session:
        campaign = _lock(session, campaign_id)
        begin_launch(session, campaign, now())
        if not snapshotting(campaign):
            return _counts(campaign, already=True)
        if campaign.audience_size is None:
            campaign.audience_size = session.scalar(
                select(func.count()).select_from(audience_members(campaign.audience).subquery())
            )
        audience = campaign.audience
        # "Text new members": walk again, over the members not reached yet (none twice).
        topup = not_yet_reached(campaign, campaign.topup_since) if campaign.topup_since else []
    cursor: int | None = None
    seen: set[str] = set()
    while True:
        alive()
        with sessions.begin() as session:
            campaign = _lock(session, campaign_id)
            if campaign.snapshotted_at is not None:
                break
            if campaign.snapshot_cursor != cursor:
                cursor = campaign.snapshot_cursor
                seen = set(session.scalars(select(Call.phone).where(
                    Call.campaign_id == campaign_id))) if cursor or topup else set()  # fmt: skip
            members = session.execute(
                audience_members(audience)
                .add_columns(CallOptOut.phone.label("no_calls"))
                .outerjoin(CallOptOut, CallOptOut.phone == Member.phone)
                .where(Member.id > cursor, *topup)
                .limit(chunk)
            ).all()
            stamp = now()
            if not members:
                campaign.snapshotted_at = stamp
                if campaign.status == CampaignStatus.LAUNCHING:
                    campaign.status = CampaignStatus.SENDING
                break
            gates: dict[tuple[str, ...], WindowCheck] = {}
            rows, skipped = [], {"opted_out": 0, "invalid": 0, "duplicate": 0}
            for m in members:
                if m.opted_out_at is not None or m.no_calls is not None:
                    skipped["opted_out"] += 1
                    continue
                if not looks_e164(m.phone):
                    skipped["invalid"] += 1
                    continue
                if m.phone in seen:
                    skipped["duplicate"] += 1
                    continue
                seen.add(m.phone)
                zones = time_zones(m.phone)
                gate = gates.get(zones) or gates.setdefault(zones, check(window, zones, stamp))
                rows.append((
                    campaign_id, m.id, m.phone, m.language,
                    CallStatus.PENDING if gate.open else CallStatus.DEFERRED,
                    None if gate.open else gate.opens_at, 0, 0, 0, stamp, stamp,
                ))  # fmt: skip
            bulk_insert(session, table(Call), ROW_COLUMNS, rows)
            new_cursor = members[-1].id
            campaign.snapshot_cursor = new_cursor
            campaign.snapshot_done = (campaign.snapshot_done or 0) + len(members)
            campaign.skipped_opted_out += skipped["opted_out"]
            campaign.skipped_invalid += skipped["invalid"]
            campaign.skipped_duplicate += skipped["duplicate"]
            buckets = sorted(
                session.scalars(
                    select(Call.id // BUCKET)
                    .distinct()
                    .where(
                        Call.campaign_id == campaign_id,
                        Call.member_id > cursor,
                        Call.member_id <= new_cursor,
                        Call.status == CallStatus.PENDING,
                    )
                )
            )
        cursor = new_cursor
        if buckets:
            on_buckets(campaign_id, buckets)
    with sessions() as session:
        result = _counts(session.get_one(Campaign, campaign_id), already=False)
    log.info("voice campaign %s launched: %d calls, skipped %s", campaign_id, result.queued,
             result.skipped)  # fmt: skip
    return result
