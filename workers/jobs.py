"""RQ jobs: thin wrappers that take ids and call the domain code (queued by textbank.enqueue)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import datetime, timedelta

from rq import get_current_job
from sqlalchemy import select

from textbank import enqueue
from textbank.blasts.launch import (
    BUCKET,
    LAUNCH_ALIVE_TTL,
    begin_launch,
    ensure_launchable,
    launch_alive_key,
    snapshot_audience,
)
from textbank.blasts.sender import SendOptions
from textbank.blasts.sender import send_bucket as send_bucket_rows
from textbank.blasts.sweeper import sweep
from textbank.calls.launch import launch_calls
from textbank.calls.pacing import release_slot
from textbank.calls.placer import CallOptions, place_bucket
from textbank.calls.reconcile import sweep_calls
from textbank.campaigns.editing import is_due
from textbank.campaigns.lifecycle import CampaignError
from textbank.conversations import live
from textbank.conversations.reclaim import reclaim_stale
from textbank.members import uploads
from textbank.members.editing import run_merge
from textbank.models import Campaign, CampaignStatus, Channel, DigestSchedule, utcnow
from textbank.replies.answers import answer_stored, record_stored_failure
from textbank.replies.handling import unprocessed
from textbank.reports.digests import start_digest
from textbank.twilio.clients import rest_client
from workers import context

log = logging.getLogger(__name__)

LONE_WORKER_SLICE = 2.0  # seconds of snapshot between a lone worker's sends


def launch_campaign(campaign_id: int) -> dict:
    """Snapshot a campaign's audience, handing each chunk's rows to its kind's fanout."""
    ctx = context.get()
    with ctx.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return {"campaign": campaign_id, "skipped": "no such campaign"}
        kind = enqueue.campaign_kind(campaign)
        fanout = enqueue.fanout_for(kind)
    key = launch_alive_key(campaign_id)
    on_buckets = lambda cid, buckets: fanout(ctx.redis, cid, buckets)  # noqa: E731
    alive = lambda: ctx.redis.set(key, "1", ex=LAUNCH_ALIVE_TTL)  # noqa: E731
    # Voice campaigns snapshot into call rows (textbank.calls), not outbound texts.
    snapshot = launch_calls if kind[1] == Channel.VOICE else snapshot_audience
    # A lone worker would otherwise snapshot the whole list before its first text: it
    # snapshots in slices, each queued behind the sends the last one released.
    lone = enqueue.workers_sending(ctx.redis) <= 1
    result = snapshot(
        ctx.sessions, campaign_id, ctx.settings.send_window, on_buckets=on_buckets, alive=alive,
        budget=LONE_WORKER_SLICE if lone else None,
    )  # fmt: skip
    if result.finished:
        ctx.redis.delete(key)
    else:
        enqueue.launch_more(ctx.redis, campaign_id, result.queued + sum(result.skipped.values()))
    return {"campaign": campaign_id, **result.to_dict()}


def send_bucket(campaign_id: int, bucket: int, gather: float = 0.0) -> dict:
    """Send the due rows of one bucket of a campaign (after `gather` seconds, for rows
    people release one press at a time: see enqueue.released)."""
    ctx = context.get()
    opts = SendOptions.from_settings(ctx.settings)
    report = ctx.run(
        send_bucket_rows(
            ctx.sessions, ctx.settings, ctx.redis_url, campaign_id, bucket, BUCKET, opts,
            channels=ctx.channels(), gather=gather,
        )
    )  # fmt: skip
    return asdict(report)


def place_calls(campaign_id: int, bucket: int) -> dict:
    """Place the due calls of one bucket of a voice campaign."""
    ctx = context.get()
    channels = ctx.channels()
    report = ctx.run(
        place_bucket(ctx.sessions, channels.client, channels.aredis, campaign_id, bucket,
                     CallOptions.from_settings(ctx.settings))
    )  # fmt: skip
    return asdict(report)


def sweep_voice() -> dict:
    """Decide unclear placements after the quarantine, fetch silent calls, requeue due ones."""
    ctx = context.get()
    opts = SendOptions.from_settings(ctx.settings)
    report = sweep_calls(
        ctx.sessions, rest_client(ctx.settings),
        lambda campaign_id, buckets: enqueue.call_buckets(ctx.redis, campaign_id, buckets),
        utcnow(), timedelta(seconds=opts.stuck_after), timedelta(seconds=opts.quarantine),
        CallOptions.from_settings(ctx.settings).from_number,
        lambda name: release_slot(ctx.redis, name),
    )  # fmt: skip
    return asdict(report)


def sweep_campaigns() -> dict:
    """Reconcile stuck rows, requeue lost or newly due buckets and launches, redo replies."""
    ctx = context.get()
    opts = SendOptions.from_settings(ctx.settings)

    def requeue(campaign_id: int, buckets: list[int]) -> int:
        with ctx.sessions() as session:
            return enqueue.buckets_due(ctx.redis, session, campaign_id, buckets)

    report = sweep(
        ctx.sessions,
        rest_client(ctx.settings),
        requeue,
        utcnow(),
        timedelta(seconds=opts.stuck_after),
        BUCKET,
        relaunch=lambda campaign_id: enqueue.launch(ctx.redis, campaign_id),
        quarantine=timedelta(seconds=opts.quarantine),
    )
    result = asdict(report)
    result["calls"] = sweep_voice()
    with ctx.sessions() as session:
        result["digests_scheduled"] = enqueue.overdue_digests(ctx.redis, session)
    result["scheduled_launches"] = launch_overdue_scheduled()
    with ctx.sessions.begin() as session:
        online = live.online_users(ctx.redis, utcnow())
        result["reclaimed"] = reclaim_stale(session, utcnow(), online).to_dict()
    lost = unprocessed(ctx.sessions, utcnow())
    result["replies_requeued"] = enqueue.lost_replies(ctx.redis, lost)
    if any(result.values()):
        log.info("sweep: %s", result)
    return result


def answer_reply(inbound_id: int) -> dict:
    """Act on one stored reply (the sweep's way for a reply nobody acted on)."""
    ctx = context.get()
    done = answer_stored(ctx.sessions, inbound_id, ctx.reply_policy, utcnow(), ctx.redis)
    if done is not None and done.answer_id is not None:
        enqueue.released(ctx.redis, done.campaign_id, [done.answer_id])
    return {"inbound": inbound_id, "done": done is not None}


DRAIN_SECONDS = 60  # then a successor goes on: no drainer nears its job timeout
DRAIN_BATCH = 20
# On the replies worker (nothing else to do) a drainer waits this long for the next reply
# before it ends: a reply then starts at once rather than after a new job's dequeue.
DRAIN_WAIT = 0.5


def answer_replies() -> dict:
    """Act on the replies the webhook handed over until none is waiting.

    A keyword's thanks goes out through the pipeline: the texts a batch wrote are released
    together. One reply failing does not stop the others; it stays unprocessed, and the
    sweep queues it again.
    """
    ctx = context.get()
    deadline = time.monotonic() + DRAIN_SECONDS
    done = failed = 0
    wait = DRAIN_WAIT if ctx.replies_only else 0.0
    while time.monotonic() < deadline:
        if ctx.replies_only:
            enqueue.replies_worker_alive(ctx.redis)  # no maintenance runs during a job
        inbound_ids = enqueue.next_replies(ctx.redis, DRAIN_BATCH, wait)
        if not inbound_ids:
            return {"replies": done, "failed": failed}
        answers: dict[int, list[int]] = {}
        for inbound_id in inbound_ids:
            try:
                result = answer_stored(ctx.sessions, inbound_id, ctx.reply_policy, utcnow(),
                                       ctx.redis)  # fmt: skip
            except Exception as exc:
                log.exception("inbound %s: acting on it failed; the sweep queues it again",
                              inbound_id)  # fmt: skip
                record_stored_failure(ctx.sessions, inbound_id, exc)
                failed += 1
                continue
            done += 1
            if result is not None and result.answer_id is not None:
                answers.setdefault(result.campaign_id, []).append(result.answer_id)
        for campaign_id, row_ids in answers.items():
            enqueue.released(ctx.redis, campaign_id, row_ids)
    enqueue.drainers(ctx.redis, 1)
    return {"replies": done, "failed": failed, "more": True}


def launch_scheduled(campaign_id: int, when_iso: str) -> dict:
    """Launch a campaign at its scheduled time, unless it was rescheduled, launched or
    archived since; the snapshot runs here, already off any web request."""
    ctx = context.get()
    when = datetime.fromisoformat(when_iso)
    with ctx.sessions.begin() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or not is_due(campaign, when):
            return {"campaign": campaign_id, "skipped": "no longer scheduled for this time"}
        try:
            ensure_launchable(session, campaign)
        except CampaignError as exc:
            log.warning("scheduled launch of campaign %s: %s", campaign_id, exc)
            return {"campaign": campaign_id, "skipped": str(exc)}
        begin_launch(session, campaign, utcnow())
    log.info("campaign %s: launching as scheduled for %s", campaign_id, when_iso)
    return launch_campaign(campaign_id)


def launch_overdue_scheduled() -> int:
    """Start scheduled launches whose time passed without their job (Redis lost it)."""
    ctx = context.get()
    with ctx.sessions() as session:
        due = session.execute(
            select(Campaign.id, Campaign.scheduled_at).where(
                Campaign.status == CampaignStatus.DRAFT,
                Campaign.archived_at.is_(None),
                Campaign.scheduled_at <= utcnow() - timedelta(minutes=2),
            )
        )
        overdue = [(cid, when) for cid, when in due.all() if when is not None]
    for campaign_id, when in overdue:
        enqueue.scheduled_launch(ctx.redis, campaign_id, when)
    return len(overdue)


def send_digest(schedule_id: int, slot_iso: str) -> dict:
    """Text every local's leaders their counts, through the ordinary blast pipeline."""
    ctx = context.get()
    slot = datetime.fromisoformat(slot_iso)
    with ctx.sessions.begin() as session:
        campaign_id = start_digest(session, schedule_id, slot)
        schedule = session.get(DigestSchedule, schedule_id)
    if schedule is not None and schedule.enabled:
        enqueue.digest(ctx.redis, schedule)
    if campaign_id is None:
        return {"schedule": schedule_id, "skipped": "already sent or disabled"}
    with ctx.sessions() as session:
        try:
            ensure_launchable(session, session.get(Campaign, campaign_id))
        except CampaignError as exc:
            log.warning("digest %s: %s", schedule_id, exc)
            return {"schedule": schedule_id, "campaign": campaign_id, "skipped": str(exc)}
    # This job is already off the web request: snapshot here rather than queue another job.
    result = launch_campaign(campaign_id)
    return {"schedule": schedule_id, **result}


def merge_locals(source_id: int, target_id: int, actor_id: int | None) -> int:
    """Move every member of one local into another, a chunk at a time, then remove it."""
    job = get_current_job()

    def progress(moved: int, left: int) -> None:
        if job is not None:
            job.meta.update(moved=moved, left=left)
            job.save_meta()

    return run_merge(context.get().sessions, source_id, target_id, actor_id, progress)


def import_upload(upload_id: int) -> str:
    """Import a member list or suppression list a manager uploaded and confirmed."""
    ctx = context.get()
    return uploads.run(ctx.sessions, upload_id, ctx.redis, utcnow())
