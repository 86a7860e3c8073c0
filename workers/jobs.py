"""RQ jobs, and how to queue them: thin wrappers that take ids and call the domain code."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

import redis
from rq import Retry
from rq.job import Job, JobStatus
from sqlalchemy import select

from textbank.blasts.launch import BUCKET, LaunchResult, ensure_launchable, launch_campaign
from textbank.blasts.sender import SendOptions, alive_key
from textbank.blasts.sender import send_bucket as send_bucket_rows
from textbank.blasts.sweeper import due_buckets, sweep
from textbank.campaigns.lifecycle import CampaignError
from textbank.models import Campaign, DigestSchedule, utcnow
from textbank.replies.handling import policy_from_settings, reprocess_stored
from textbank.reports.digests import start_digest
from textbank.twilio.clients import rest_client
from workers import context
from workers.queues import QueueName, queue

log = logging.getLogger(__name__)

ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
SEND_JOB_TIMEOUT = 15 * 60


def _still_active(job: Job, connection: redis.Redis, campaign_id: int, bucket: int) -> bool:
    """Queued, or running with a live heartbeat: a killed worker leaves its job STARTED."""
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        return bool(connection.exists(alive_key(campaign_id, bucket)))
    return status in ACTIVE


def bucket_job_id(campaign_id: int, bucket: int) -> str:
    return f"textbank-send-{campaign_id}-{bucket}"


def enqueue_buckets(connection: redis.Redis, campaign_id: int, buckets: list[int]) -> int:
    """Queue a send job per bucket unless one is already queued or running; return how many."""
    ids = [bucket_job_id(campaign_id, b) for b in buckets]
    existing = Job.fetch_many(ids, connection=connection)
    q = queue(QueueName.SEND, connection)
    added = 0
    with connection.pipeline() as pipe:
        for bucket, job_id, job in zip(buckets, ids, existing, strict=True):
            if job is not None and _still_active(job, connection, campaign_id, bucket):
                continue
            q.enqueue_call(
                send_bucket,
                args=(campaign_id, bucket),
                job_id=job_id,
                timeout=SEND_JOB_TIMEOUT,
                result_ttl=300,
                failure_ttl=24 * 3600,
                retry=Retry(max=3, interval=[10, 30, 90]),
                description=f"send campaign {campaign_id} bucket {bucket}",
                pipeline=pipe,
            )
            added += 1
        pipe.execute()
    if added:
        log.info("campaign %s: queued %d send jobs", campaign_id, added)
    return added


def send_bucket(campaign_id: int, bucket: int) -> dict:
    """Send the due rows of one bucket of a campaign."""
    ctx = context.get()
    opts = SendOptions.from_settings(ctx.settings)
    report = ctx.run(
        send_bucket_rows(
            ctx.sessions, ctx.settings, ctx.redis_url, campaign_id, bucket, BUCKET, opts,
            channels=ctx.channels(),
        )
    )  # fmt: skip
    return asdict(report)


def sweep_campaigns() -> dict:
    """Reconcile stuck rows, requeue lost or newly due buckets, redo replies that failed."""
    ctx = context.get()
    report = sweep(
        ctx.sessions,
        rest_client(ctx.settings),
        lambda campaign_id, buckets: enqueue_buckets(ctx.redis, campaign_id, buckets),
        utcnow(),
        timedelta(seconds=SendOptions.from_settings(ctx.settings).stuck_after),
        BUCKET,
    )
    result = asdict(report)
    result["digests_scheduled"] = schedule_overdue_digests()
    result["replies_reprocessed"] = reprocess_stored(
        ctx.sessions, policy_from_settings(ctx.settings), utcnow(), ctx.redis
    )
    return result


def launch_now(sessions, settings, connection: redis.Redis, campaign_id: int) -> LaunchResult:
    """Snapshot a campaign's audience here and now, queueing each chunk's sends as it lands."""
    return launch_campaign(
        sessions,
        campaign_id,
        settings.send_window,
        on_buckets=lambda cid, buckets: enqueue_buckets(connection, cid, buckets),
    )


def queue_due(session, connection: redis.Redis, campaign_id: int) -> int:
    """Queue the buckets with rows due now (after a resume), without waiting for the sweeper."""
    buckets = due_buckets(session, campaign_id, BUCKET, utcnow())
    return enqueue_buckets(connection, campaign_id, buckets) if buckets else 0


def digest_job_id(schedule_id: int, slot: datetime) -> str:
    return f"textbank-digest-{schedule_id}-{int(slot.timestamp())}"


def schedule_digest(connection: redis.Redis, schedule: DigestSchedule) -> bool:
    """Put the schedule's next slot on RQ's scheduler; False if it is already there."""
    job_id = digest_job_id(schedule.id, schedule.next_run_at)
    existing = Job.fetch_many([job_id], connection=connection)[0]
    if existing is not None and existing.get_status(refresh=False) in ACTIVE:
        return False
    queue(QueueName.DEFAULT, connection).enqueue_at(
        schedule.next_run_at, send_digest, schedule.id, schedule.next_run_at.isoformat(),
        job_id=job_id, retry=Retry(max=3, interval=[30, 120, 600]),
        description=f"digest {schedule.id} for {schedule.next_run_at.isoformat()}",
    )  # fmt: skip
    return True


def send_digest(schedule_id: int, slot_iso: str) -> dict:
    """Text every local's leaders their counts, through the ordinary blast pipeline."""
    ctx = context.get()
    slot = datetime.fromisoformat(slot_iso)
    with ctx.sessions.begin() as session:
        campaign_id = start_digest(session, schedule_id, slot)
        schedule = session.get(DigestSchedule, schedule_id)
    if schedule is not None and schedule.enabled:
        schedule_digest(ctx.redis, schedule)
    if campaign_id is None:
        return {"schedule": schedule_id, "skipped": "already sent or disabled"}
    with ctx.sessions() as session:
        try:
            ensure_launchable(session, session.get(Campaign, campaign_id))
        except CampaignError as exc:
            log.warning("digest %s: %s", schedule_id, exc)
            return {"schedule": schedule_id, "campaign": campaign_id, "skipped": str(exc)}
    result = launch_now(ctx.sessions, ctx.settings, ctx.redis, campaign_id)
    return {"schedule": schedule_id, "campaign": campaign_id, **result.to_dict()}


def schedule_overdue_digests() -> int:
    """Requeue digest slots Redis lost (a restart empties RQ's scheduler)."""
    ctx = context.get()
    with ctx.sessions() as session:
        due = session.scalars(select(DigestSchedule).where(DigestSchedule.enabled.is_(True))).all()
    return sum(schedule_digest(ctx.redis, schedule) for schedule in due)
