"""Launch: snapshot a campaign's audience into one outbound row per member, resumably."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Row, Select, Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from textbank.blasts.outbox import complete_if_done
from textbank.bulk import bulk_insert
from textbank.campaigns.audience import audience_filter, audience_members, not_yet_reached
from textbank.campaigns.lifecycle import CampaignError, check_audience, snapshot_progress
from textbank.campaigns.rendering import measure, render
from textbank.compliance.quiet_hours import SendWindow, WindowCheck, check
from textbank.members.phones import looks_e164, time_zones
from textbank.models import (
    Campaign,
    CampaignMode,
    CampaignStatus,
    Member,
    OutboundMessage,
    table,
    utcnow,
)
from textbank.reports.digests import stats_by_local
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)

BUCKET = 1000  # rows per send (or call) job, by row id
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
    finished: bool = True  # False: the run stopped at its time budget, the rest is to do

    def to_dict(self) -> dict:
        return {"queued": self.queued, "skipped": self.skipped, "finished": self.finished}


def launch_alive_key(campaign_id: int) -> str:
    """Set while a worker is snapshotting this campaign; gone soon after that worker dies."""
    return f"textbank:launching:{campaign_id}"


LAUNCH_ALIVE_TTL = 60  # seconds; far longer than one chunk takes


def begin_launch(session: Session, campaign: Campaign, now: datetime) -> bool:
    """Move a draft to launching, for the snapshot job to fill; True if it was a draft."""
    if campaign.status != CampaignStatus.DRAFT:
        return False
    campaign.status = CampaignStatus.LAUNCHING
    campaign.launched_at = now
    return True


def snapshotting(campaign: Campaign) -> bool:
    """Launched, and its snapshot not finished: a launch job has (or the sweeper gives) work."""
    return campaign.launched_at is not None and campaign.snapshotted_at is None


def launch_state(campaign: Campaign) -> dict:
    """Where a launch stands, from counters the snapshot keeps (no walk over the rows)."""
    skipped = {
        "opted_out": campaign.skipped_opted_out,
        "invalid": campaign.skipped_invalid,
        "duplicate": campaign.skipped_duplicate,
    }
    snapshot = snapshot_progress(campaign)
    return {
        "queued": snapshot["done"] - sum(skipped.values()),
        "skipped": skipped,
        "status": campaign.status,
        "snapshot": snapshot,
    }


def _counts(campaign: Campaign, already: bool) -> LaunchResult:
    state = launch_state(campaign)
    return LaunchResult(
        campaign.id, state["queued"], state["skipped"], already, campaign.snapshotted_at is not None
    )


def _count_audience(sessions: sessionmaker[Session], campaign_id: int) -> None:
    """The progress bar's end, counted once; after the first chunk, so texts are not held up."""
    with sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign_id)
        if campaign.audience_size is not None:
            return
        size = session.scalar(
            select(func.count()).select_from(audience_members(campaign.audience).subquery())
        )
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.audience_size.is_(None))
            .values(audience_size=size)
        )


def _lock(session: Session, campaign_id: int) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    return campaign


class Rows(Protocol):
    """What a campaign kind's snapshot writes for each member: texts, or calls (textbank.calls)."""

    table: Table
    columns: tuple[str, ...]
    pending: str  # the status of rows ready for a worker: their buckets are handed on

    def members(self, query: Select) -> Select:
        """The audience's query, with what this kind needs joined to it."""

    def opted_out(self, member: Row) -> bool:
        """Kept off this kind's rows beyond the global ledger (e.g. press 9 for calls)."""

    def row(self, member: Row, gate: WindowCheck, stamp: datetime) -> tuple:
        """The member's row, in `columns` order."""

    def complete_if_done(self, session: Session, campaign_id: int, now: datetime) -> bool:
        """Mark the campaign completed if none of its rows is left to do."""


class TextRows:
    """A text campaign's rows: the script rendered per member, held for volunteers if P2P."""

    table: Table = table(OutboundMessage)
    columns: tuple[str, ...] = ROW_COLUMNS
    pending: str = MessageStatus.PENDING

    def __init__(self, session: Session, campaign: Campaign) -> None:
        self.campaign_id = campaign.id
        # A P2P campaign's rows wait for volunteers: held, never queued for a worker.
        self.held = campaign.mode == CampaignMode.P2P
        self.templates = {"": campaign.message, **campaign.translations}
        # Counts per local, computed once, for templates that text them back to leaders.
        texts_stats = any("{local_stats}" in t for t in self.templates.values())
        self.local_stats = stats_by_local(session) if texts_stats else {}

    def members(self, query: Select) -> Select:
        return query

    def opted_out(self, member: Row) -> bool:
        return False

    def complete_if_done(self, session: Session, campaign_id: int, now: datetime) -> bool:
        return complete_if_done(session, campaign_id, now)

    def row(self, member: Row, gate: WindowCheck, stamp: datetime) -> tuple:
        template = self.templates.get(member.language) or self.templates[""]
        local_stats = self.local_stats.get(member.local_number, "")
        body = render(template, {**member._mapping, "local_stats": local_stats})
        deferred = not gate.open and not self.held
        status = MessageStatus.HELD if self.held else MessageStatus.DEFERRED if deferred else (
            MessageStatus.PENDING)  # fmt: skip
        return (
            self.campaign_id, member.id, member.phone, body, member.language,
            measure(body).segments, status, gate.opens_at if deferred else None, 0, stamp, stamp,
        )  # fmt: skip


def snapshot_audience(
    sessions: sessionmaker[Session],
    campaign_id: int,
    window: SendWindow,
    on_buckets: Callable[[int, list[int]], object],
    now: Callable[[], datetime] = utcnow,
    chunk: int = SNAPSHOT_CHUNK,
    alive: Callable[[], object] = lambda: None,
    budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    kind: Callable[[Session, Campaign], Rows] = TextRows,
) -> LaunchResult:
    """Snapshot the audience in chunks, handing each chunk's pending buckets to `on_buckets`.

    Each chunk locks the campaign, starts at its committed cursor and commits with it, so
    a run killed part way is finished by running again, and two runs at once take turns
    chunk by chunk: no member twice, none missing. `alive` is called before each chunk.
    With a `budget` (seconds), the run stops after the chunk that passes it and returns
    unfinished, for another run to go on from the cursor. `kind` makes the rows: texts by
    default, calls for a voice campaign (textbank.calls.launch).
    """
    alive()  # before anything slow, or the sweeper takes this run for a lost one
    started = clock()
    with sessions.begin() as session:
        campaign = _lock(session, campaign_id)
        begin_launch(session, campaign, now())
        if not snapshotting(campaign):
            return _counts(campaign, already=True)
        audience = campaign.audience
        # "Text new members": walk again, over the members not reached yet (none twice).
        topup = not_yet_reached(campaign, campaign.topup_since) if campaign.topup_since else []
        rows_of = kind(session, campaign)
    t = rows_of.table
    cursor: int | None = None  # unknown until the first chunk reads the committed one
    counted = False
    seen_phones: set[str] = set()
    while True:
        alive()
        with sessions.begin() as session:
            campaign = _lock(session, campaign_id)
            if campaign.snapshotted_at is not None:  # another run finished it
                break
            if campaign.snapshot_cursor != cursor:
                # Resuming, or another run moved on: phones already snapshotted count as seen.
                cursor = campaign.snapshot_cursor
                seen_phones = (
                    set(session.scalars(select(t.c.phone).where(t.c.campaign_id == campaign_id)))
                    if cursor or topup
                    else set()
                )
            members = session.execute(
                rows_of.members(audience_members(audience))
                .where(Member.id > cursor, *topup)
                .limit(chunk)
            ).all()
            stamp = now()
            if not members:
                campaign.snapshotted_at = stamp
                if campaign.status == CampaignStatus.LAUNCHING:
                    campaign.status = CampaignStatus.SENDING
                break
            gates: dict[tuple[str, ...], WindowCheck] = {}  # one check per zone set per chunk
            rows, skipped = [], {"opted_out": 0, "invalid": 0, "duplicate": 0}
            for m in members:
                if m.opted_out_at is not None or rows_of.opted_out(m):
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
                zones = time_zones(phone)
                gate = gates.get(zones) or gates.setdefault(zones, check(window, zones, stamp))
                rows.append(rows_of.row(m, gate, stamp))
            bulk_insert(session, t, rows_of.columns, rows)
            new_cursor = members[-1].id
            campaign.snapshot_cursor = new_cursor
            campaign.snapshot_done = (campaign.snapshot_done or 0) + len(members)
            campaign.skipped_opted_out += skipped["opted_out"]
            campaign.skipped_invalid += skipped["invalid"]
            campaign.skipped_duplicate += skipped["duplicate"]
            buckets = list(
                session.scalars(
                    select(t.c.id // BUCKET)
                    .distinct()
                    .where(
                        t.c.campaign_id == campaign_id,
                        t.c.member_id > cursor,
                        t.c.member_id <= new_cursor,
                        t.c.status == rows_of.pending,
                    )
                )
            )
        cursor = new_cursor
        if buckets:
            on_buckets(campaign_id, sorted(buckets))
        if not counted:
            _count_audience(sessions, campaign_id)
            counted = True
        if budget is not None and clock() - started >= budget:
            break
    if not counted:
        _count_audience(sessions, campaign_id)
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        result = _counts(campaign, already=False)
    if not result.finished:
        log.info("campaign %s: snapshot paused at member %s", campaign_id, cursor)
        return result
    # Its rows may all have ended before the snapshot did (a lone worker, nobody to reach).
    with sessions.begin() as session:
        rows_of.complete_if_done(session, campaign_id, now())
    log.info(
        "campaign %s snapshotted: %d queued, skipped %s", campaign_id, result.queued, result.skipped
    )
    if result.queued == 0:
        log.warning("campaign %s: nobody in the audience could be texted", campaign_id)
    return result


def ensure_launchable(session: Session, campaign: Campaign | None) -> None:
    """Refuse a launch that could text nobody, before anything is written.

    Asks whether one member could be texted (an EXISTS, cheap inside a web request at any
    list size); only when none can does it count, to say why.
    """
    if campaign is None:
        raise CampaignError("no such campaign")
    if campaign.status != CampaignStatus.DRAFT:
        return
    reachable = select(Member.id).where(
        *audience_filter(campaign.audience), Member.opted_out_at.is_(None)
    )
    if not session.scalar(select(reachable.exists())):
        check_audience(session, campaign.audience)
