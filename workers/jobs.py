"""RQ jobs, and how to queue them: thin wrappers that take ids and call the domain code."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

import redis
import uvloop
from rq import Retry
from rq.job import Job, JobStatus

from textbank.carrier import rest_client
from textbank.launch import BUCKET, LaunchResult, launch_campaign
from textbank.models import utcnow
from textbank.replies import policy_from_settings, reprocess_stored
from textbank.sender import SendOptions, alive_key
from textbank.sender import send_bucket as send_bucket_rows
from textbank.sweeper import due_buckets, sweep
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
    # uvloop: the send loop is all sockets, and uvloop runs them at a fraction of the CPU.
    report = uvloop.run(
        send_bucket_rows(
            ctx.sessions, ctx.settings, ctx.redis_url, campaign_id, bucket, BUCKET,
            SendOptions.from_settings(ctx.settings),
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
