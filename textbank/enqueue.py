"""The one module that puts jobs on textbank's RQ queues, naming each job by its dotted path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

import redis
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank.blasts.launch import BUCKET, launch_alive_key
from textbank.blasts.sender import alive_key
from textbank.blasts.sweeper import due_buckets
from textbank.calls.outbox import due_buckets as due_calls
from textbank.calls.placer import alive_key as calling_key
from textbank.models import Campaign, Channel, DigestSchedule, utcnow

log = logging.getLogger(__name__)

JOBS = "workers.jobs"  # jobs are named, never imported: textbank does not depend on workers


class QueueName(StrEnum):
    LAUNCH = "textbank-launch"  # snapshot audiences, fan out batches
    REPLIES = "textbank-replies"  # act on members' stored replies, one job each
    SEND = "textbank-send"  # batches of outbound messages
    DEFAULT = "textbank-default"  # reconciliation, digests, housekeeping


# Replies before sends: a member waiting on an answer, a volunteer on a live inbox.
ALL_QUEUES = (QueueName.LAUNCH, QueueName.REPLIES, QueueName.SEND, QueueName.DEFAULT)
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
SEND_JOB_TIMEOUT = 15 * 60
LAUNCH_JOB_TIMEOUT = 3 * 3600  # a million members snapshot in a few minutes; generous
SWEEP_JOB_TIMEOUT = 10 * 60
SWEEP_ID = "textbank-sweep"
# A continued snapshot waits behind the sends its last slice released (a lone worker sends
# ~450 texts/s, so 2 s of snapshot are ~20 s of sends); the sweeper leaves it alone meanwhile.
LAUNCH_MORE_TTL = 10 * 60
SWEEP_THROTTLE = "textbank:sweep-lock"


def queue(name: QueueName, connection: redis.Redis) -> Queue:
    return Queue(name.value, connection=connection)


def _still_active(job: Job | None, connection: redis.Redis, alive: str) -> bool:
    """Queued, or running with a live heartbeat: a killed worker leaves its job STARTED."""
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        return bool(connection.exists(alive))
    return status in ACTIVE


# --- launch -----------------------------------------------------------------------------


def launch_job_id(campaign_id: int) -> str:
    return f"textbank-launch-{campaign_id}"


def launch(connection: redis.Redis, campaign_id: int) -> bool:
    """Queue the campaign's audience snapshot unless one is queued or running; True if queued."""
    job_id = launch_job_id(campaign_id)
    existing = Job.fetch_many([job_id], connection=connection)[0]
    alive = launch_alive_key(campaign_id)
    # The key also stands for a continuation waiting on the send queue (launch_more).
    if _still_active(existing, connection, alive) or connection.exists(alive):
        return False
    queue(QueueName.LAUNCH, connection).enqueue_call(
        f"{JOBS}.launch_campaign",
        args=(campaign_id,),
        job_id=job_id,
        timeout=LAUNCH_JOB_TIMEOUT,
        result_ttl=3600,
        failure_ttl=24 * 3600,
        retry=Retry(max=3, interval=[5, 30, 120]),
        description=f"launch campaign {campaign_id}",
    )
    log.info("campaign %s: launch queued", campaign_id)
    return True


def launch_more(connection: redis.Redis, campaign_id: int, done: int) -> None:
    """Queue the rest of a snapshot that stopped at its time budget behind the sends it
    released (on the send queue), so a lone worker's first texts leave during a long launch.
    Named by how far the snapshot got: a slice repeated queues no second continuation."""
    queue(QueueName.SEND, connection).enqueue_call(
        f"{JOBS}.launch_campaign",
        args=(campaign_id,),
        job_id=f"{launch_job_id(campaign_id)}-at-{done}",
        timeout=LAUNCH_JOB_TIMEOUT,
        result_ttl=600,
        failure_ttl=24 * 3600,
        retry=Retry(max=3, interval=[5, 30, 120]),
        description=f"go on launching campaign {campaign_id} after {done} members",
    )
    connection.set(launch_alive_key(campaign_id), "1", ex=LAUNCH_MORE_TTL)


def workers_sending(connection: redis.Redis) -> int:
    """How many workers listen on the send queue (RQ's own registry of live workers)."""
    return Worker.count(connection=connection, queue=queue(QueueName.SEND, connection))


def scheduled_launch_job_id(campaign_id: int, when: datetime) -> str:
    return f"textbank-scheduled-launch-{campaign_id}-{int(when.timestamp())}"


def scheduled_launch(connection: redis.Redis, campaign_id: int, when: datetime) -> None:
    """Put a campaign's launch on RQ's scheduler for `when`; the job checks it still holds."""
    queue(QueueName.DEFAULT, connection).enqueue_at(
        when, f"{JOBS}.launch_scheduled", campaign_id, when.isoformat(),
        job_id=scheduled_launch_job_id(campaign_id, when),
        retry=Retry(max=3, interval=[10, 60, 300]),
        description=f"launch campaign {campaign_id} as scheduled for {when.isoformat()}",
    )  # fmt: skip
    log.info("campaign %s: launch scheduled for %s", campaign_id, when.isoformat())


# --- sends ------------------------------------------------------------------------------


def bucket_job_id(campaign_id: int, bucket: int) -> str:
    return f"textbank-send-{campaign_id}-{bucket}"


def _bucket_jobs(
    connection: redis.Redis, campaign_id: int, buckets: list[int], job: str,
    job_id: Callable[[int, int], str], alive: Callable[[int, int], str], what: str,
) -> int:  # fmt: skip
    """Queue `job` per bucket of a campaign unless one is queued or running; return how many."""
    ids = [job_id(campaign_id, b) for b in buckets]
    existing = Job.fetch_many(ids, connection=connection)
    q = queue(QueueName.SEND, connection)
    added = 0
    with connection.pipeline() as pipe:
        for bucket, one_id, found in zip(buckets, ids, existing, strict=True):
            if _still_active(found, connection, alive(campaign_id, bucket)):
                continue
            q.enqueue_call(
                f"{JOBS}.{job}", args=(campaign_id, bucket), job_id=one_id,
                timeout=SEND_JOB_TIMEOUT, result_ttl=300, failure_ttl=24 * 3600,
                retry=Retry(max=3, interval=[10, 30, 90]),
                description=f"{what} campaign {campaign_id} bucket {bucket}", pipeline=pipe,
            )  # fmt: skip
            added += 1
        pipe.execute()
    if added:
        log.info("campaign %s: queued %d %s jobs", campaign_id, added, what)
    return added


def send_buckets(connection: redis.Redis, campaign_id: int, buckets: list[int]) -> int:
    """Queue a send job per bucket unless one is already queued or running; return how many."""
    return _bucket_jobs(connection, campaign_id, buckets, "send_bucket", bucket_job_id,
                        alive_key, "send")  # fmt: skip


def call_job_id(campaign_id: int, bucket: int) -> str:
    return f"textbank-call-{campaign_id}-{bucket}"


def call_buckets(connection: redis.Redis, campaign_id: int, buckets: list[int]) -> int:
    """Queue a placing job per bucket of a voice campaign unless one is queued or running."""
    return _bucket_jobs(connection, campaign_id, buckets, "place_calls", call_job_id,
                        calling_key, "call")  # fmt: skip


# A job for rows released one press at a time waits this long before its first claim, so
# the presses of everyone texting in that moment go out in one job. A job per press cost
# the workers ~25 ms of CPU (RQ's bookkeeping, three claims, completion) and PostgreSQL
# as much again, for one text; the texts wait a quarter of a second longer.
GATHER_SECONDS = 0.25


def released(connection: redis.Redis, campaign_id: int, row_ids: list[int]) -> None:
    """Queue the sending of rows a person released one at a time (P2P first texts, replies).

    A bucket's job that is queued takes these rows too: nothing more is queued. A job that
    is already running may have made its last claim before these rows were released: a
    follow-up job for the bucket is queued then, so they go out now rather than at the
    sweeper's next pass. Either job gathers the presses of the moment before it claims.
    """
    buckets = sorted({row_id // BUCKET for row_id in row_ids})
    ids = [bucket_job_id(campaign_id, b) for b in buckets]
    # Every press comes through here (one per Send): what decides it — each bucket's job's
    # status, its follow-up's, the running job's heartbeat — is read in one round trip, and
    # only the status field, not whole jobs to deserialize. Most presses find a job queued
    # or a follow-up waiting and write nothing; the others write in one more.
    with connection.pipeline(transaction=False) as reads:
        for n, bucket in enumerate(buckets):
            reads.hget(Job.key_for(ids[n]), "status")
            reads.hget(Job.key_for(f"{ids[n]}-more"), "status")
            reads.exists(alive_key(campaign_id, bucket))
        answers = reads.execute()
    q = queue(QueueName.SEND, connection)
    with connection.pipeline() as pipe:
        for n, bucket in enumerate(buckets):
            status, more = _status(answers[3 * n]), _status(answers[3 * n + 1])
            alive = bool(answers[3 * n + 2])
            running = status == JobStatus.STARTED
            if running and alive:
                if more == JobStatus.QUEUED:
                    continue
                job_id = f"{ids[n]}-more"
                description = f"send campaign {campaign_id} bucket {bucket} (released while it ran)"
            elif status in ACTIVE and not running:
                continue  # queued: it claims these rows too
            else:  # none, finished, or started by a worker that died (no heartbeat)
                job_id, description = ids[n], f"send campaign {campaign_id} bucket {bucket}"
            q.enqueue_call(
                f"{JOBS}.send_bucket", args=(campaign_id, bucket),
                kwargs={"gather": GATHER_SECONDS}, job_id=job_id, timeout=SEND_JOB_TIMEOUT,
                result_ttl=60, failure_ttl=24 * 3600, retry=Retry(max=3, interval=[10, 30, 90]),
                description=description, pipeline=pipe,
            )  # fmt: skip
        pipe.execute()


def _status(field: bytes | None) -> JobStatus | None:
    """A job's status field as RQ reads it; None for no job (or a status RQ does not know,
    which is queued anew as no job is)."""
    try:
        return JobStatus(field.decode()) if field else None
    except ValueError:
        return None


# What a launch does with each chunk of rows it snapshots, by campaign (mode, channel):
# a blast texts them; other kinds register their own (P2P waits for volunteers, voice calls).
Fanout = Callable[[redis.Redis, int, list[int]], int]
# A P2P launch snapshots its rows held (no buckets come of it); what volunteers release
# later, and their replies, go out as a blast's rows do, also when the sweeper requeues them.
FANOUT: dict[tuple[str, str], Fanout] = {
    ("blast", "sms"): send_buckets,
    ("blast", "voice"): call_buckets,  # the launch snapshots call rows for these
    ("p2p", "sms"): send_buckets,
}


def register_fanout(mode: str, channel: str, fanout: Fanout) -> None:
    """Say what becomes of a (mode, channel) campaign's snapshotted rows."""
    FANOUT[(mode, channel)] = fanout


def campaign_kind(campaign: Campaign) -> tuple[str, str]:
    return (str(getattr(campaign, "mode", None) or "blast"), str(campaign.channel or "sms"))


def fanout_for(kind: tuple[str, str]) -> Fanout:
    fanout = FANOUT.get(kind)
    if fanout is None:
        raise LookupError(f"no fanout for {kind[0]} {kind[1]} campaigns")
    return fanout


def buckets_due(connection: redis.Redis, session: Session, campaign_id: int, buckets: list[int]):
    """Hand a campaign's buckets with due rows to its kind's fanout; return jobs queued."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not buckets:
        return 0
    return fanout_for(campaign_kind(campaign))(connection, campaign_id, buckets)


def queue_due(session: Session, connection: redis.Redis, campaign_id: int) -> int:
    """Queue the buckets with rows due now (after a resume), without waiting for the sweeper."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None and campaign.channel == Channel.VOICE:
        return call_buckets(connection, campaign_id, due_calls(session, campaign_id, utcnow()))
    buckets = due_buckets(session, campaign_id, BUCKET, utcnow())
    return buckets_due(connection, session, campaign_id, buckets)


# --- replies ----------------------------------------------------------------------------
#
# The webhook hands each stored reply to the workers with one round trip: its id onto a
# Redis list, and drainer jobs queued only when none is at work. An RQ job per reply cost
# the web process more CPU than storing the reply (two MULTI/EXEC round trips and a job
# hash each) and the worker as much again; see scripts/bench_inbound.py. A reply is kept in
# PostgreSQL before its id is pushed, so an id lost with Redis, or with a drainer that
# died holding it, is found by the sweep (lost_replies) and acted on all the same.

REPLY_IDS = "textbank:replies:waiting"  # ids of stored replies, oldest first
REPLY_DRAINING = "textbank:replies:draining"  # set while drainers are queued or at work
DRAIN_TTL = 60  # seconds a drainer's mark outlives its last sign of life
DRAINERS = 2  # jobs sharing a burst of replies: one per core of the small box
DRAIN_JOB_TIMEOUT = 10 * 60
# Set by a worker on the replies queue alone (the Procfile's `replies`) while it lives. Its
# drainer waits a moment for the next reply rather than ending (see next_replies), so it is
# the one drainer queued: a second one, ending at once on a general worker, cleared the
# mark while the first waited, and every reply after it queued a new pair of drainers.
REPLIES_WORKER = "textbank:replies:worker"
REPLIES_WORKER_TTL = 45  # seconds: refreshed between jobs (every ~15 s) and by its drainer


def reply_job_id(inbound_id: int) -> str:
    return f"textbank-reply-{inbound_id}"


def reply(connection: redis.Redis, inbound_id: int) -> None:
    """Hand a reply the webhook just stored to the workers."""
    replies(connection, [inbound_id])


def replies(connection: redis.Redis, inbound_ids: list[int]) -> None:
    """Hand replies the webhook just stored together to the workers: one round trip."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.rpush(REPLY_IDS, *inbound_ids)
        pipe.set(REPLY_DRAINING, "1", nx=True, ex=DRAIN_TTL)
        pipe.exists(REPLIES_WORKER)
        _, first, dedicated = pipe.execute()
    if first:
        drainers(connection, 1 if dedicated else DRAINERS)


def replies_worker_alive(connection: redis.Redis) -> None:
    """A worker on the replies queue alone is running (refreshed while it lives)."""
    connection.set(REPLIES_WORKER, "1", ex=REPLIES_WORKER_TTL)


def _drainer_count(connection: redis.Redis) -> int:
    return 1 if connection.exists(REPLIES_WORKER) else DRAINERS


def drainers(connection: redis.Redis, count: int) -> None:
    """Queue jobs that act on the waiting replies until none is left."""
    q = queue(QueueName.REPLIES, connection)
    with connection.pipeline() as pipe:
        for _ in range(count):
            q.enqueue_call(
                f"{JOBS}.answer_replies", timeout=DRAIN_JOB_TIMEOUT, result_ttl=0,
                failure_ttl=24 * 3600, description="act on stored replies", pipeline=pipe,
            )  # fmt: skip
        pipe.execute()


def next_replies(connection: redis.Redis, count: int, wait: float = 0.0) -> list[int]:
    """Up to `count` waiting reply ids for a drainer; [] once none is left, and then the
    drainers' mark is cleared, so the webhook queues new ones for the next reply.

    With `wait` (a drainer on the replies worker) it first waits that long for the next
    reply, the mark kept: replies a few hundred ms apart are taken by the running drainer,
    not each by a new job (RQ's bookkeeping and a worker's dequeue per reply)."""
    ids = connection.lpop(REPLY_IDS, count)
    if not ids and wait > 0:
        popped = connection.blpop([REPLY_IDS], timeout=wait)
        if popped:
            more = connection.lpop(REPLY_IDS, count - 1) if count > 1 else None
            ids = [popped[1], *(more or [])]
    if ids:
        connection.expire(REPLY_DRAINING, DRAIN_TTL)
        return [int(i) for i in ids]
    connection.delete(REPLY_DRAINING)
    # A reply pushed between the LPOP and the DELETE saw the mark and queued nobody.
    if connection.llen(REPLY_IDS) and connection.set(REPLY_DRAINING, "1", nx=True, ex=DRAIN_TTL):
        return next_replies(connection, count)
    return []


def _reply_job(q: Queue, inbound_id: int, pipeline=None) -> None:
    q.enqueue_call(
        f"{JOBS}.answer_reply", args=(inbound_id,), job_id=reply_job_id(inbound_id),
        timeout=60, result_ttl=0, failure_ttl=24 * 3600, description=f"reply {inbound_id}",
        pipeline=pipeline,
    )  # fmt: skip


def lost_replies(connection: redis.Redis, inbound_ids: list[int]) -> int:
    """Queue a job for each stored reply nobody acted on (its id lost with Redis or with a
    drainer that died, or its handling failed), unless one is waiting or running; return
    how many. While ids wait on the list the drainers are still at work (a burst's
    backlog): they are made sure of, and the stragglers are looked at once they are done."""
    if connection.llen(REPLY_IDS):
        if connection.set(REPLY_DRAINING, "1", nx=True, ex=DRAIN_TTL):
            drainers(connection, _drainer_count(connection))  # the last died with the mark
        return 0
    if not inbound_ids:
        return 0
    jobs = Job.fetch_many([reply_job_id(i) for i in inbound_ids], connection=connection)
    q = queue(QueueName.REPLIES, connection)
    added = 0
    with connection.pipeline() as pipe:
        for inbound_id, job in zip(inbound_ids, jobs, strict=True):
            if job is not None and job.get_status(refresh=False) in ACTIVE:
                continue
            _reply_job(q, inbound_id, pipe)
            added += 1
        pipe.execute()
    if added:
        log.info("queued %d stored replies nobody acted on", added)
    return added


# --- digests and housekeeping -----------------------------------------------------------


def digest_job_id(schedule_id: int, slot: datetime) -> str:
    return f"textbank-digest-{schedule_id}-{int(slot.timestamp())}"


def digest(connection: redis.Redis, schedule: DigestSchedule) -> bool:
    """Put the schedule's next slot on RQ's scheduler; False if it is already there."""
    job_id = digest_job_id(schedule.id, schedule.next_run_at)
    existing = Job.fetch_many([job_id], connection=connection)[0]
    if existing is not None and existing.get_status(refresh=False) in ACTIVE:
        return False
    queue(QueueName.DEFAULT, connection).enqueue_at(
        schedule.next_run_at, f"{JOBS}.send_digest", schedule.id,
        schedule.next_run_at.isoformat(), job_id=job_id,
        retry=Retry(max=3, interval=[30, 120, 600]),
        description=f"digest {schedule.id} for {schedule.next_run_at.isoformat()}",
    )  # fmt: skip
    return True


def overdue_digests(connection: redis.Redis, session: Session) -> int:
    """Requeue digest slots Redis lost (a restart empties RQ's scheduler)."""
    due = session.scalars(select(DigestSchedule).where(DigestSchedule.enabled.is_(True))).all()
    return sum(digest(connection, schedule) for schedule in due)


def sweep(connection: redis.Redis, every: timedelta) -> bool:
    """Queue a sweep unless one ran or was queued within `every`, across all workers.

    The sweep is an ordinary job: RQ's own timeouts, shutdown and failure registry apply.
    """
    if not connection.set(SWEEP_THROTTLE, "1", nx=True, ex=max(1, int(every.total_seconds()))):
        return False
    existing = Job.fetch_many([SWEEP_ID], connection=connection)[0]
    if existing is not None and existing.get_status(refresh=False) in (
        JobStatus.QUEUED,
        JobStatus.STARTED,
    ):
        return False
    queue(QueueName.DEFAULT, connection).enqueue_call(
        f"{JOBS}.sweep_campaigns", job_id=SWEEP_ID, timeout=SWEEP_JOB_TIMEOUT, result_ttl=60,
        failure_ttl=3600, description="sweep: reconcile, requeue, resume launches",
    )  # fmt: skip
    return True


# --- uploads ----------------------------------------------------------------------------


def upload_job_id(upload_id: int) -> str:
    return f"textbank-upload-{upload_id}"


def upload(connection: redis.Redis, upload_id: int) -> bool:
    """Queue the import of a file uploaded in the browser, once (the id names the job)."""
    job_id = upload_job_id(upload_id)
    existing = Job.fetch_many([job_id], connection=connection)[0]
    if existing is not None and existing.get_status(refresh=False) in ACTIVE:
        return False
    queue(QueueName.DEFAULT, connection).enqueue_call(
        f"{JOBS}.import_upload", args=(upload_id,), job_id=job_id, timeout=60 * 60,
        result_ttl=3600, failure_ttl=24 * 3600, description=f"import upload {upload_id}",
    )  # fmt: skip
    return True


# --- locals -------------------------------------------------------------------------------


def merge_job_id(source_id: int, target_id: int) -> str:
    return f"textbank-merge-locals-{source_id}-{target_id}"


def merge_locals(connection: redis.Redis, source_id: int, target_id: int, actor_id: int) -> str:
    """Queue moving one local's members into another (a job: a local can have a union's
    hundreds of thousands), once while it is queued or running; returns the job's id."""
    job_id = merge_job_id(source_id, target_id)
    existing = Job.fetch_many([job_id], connection=connection)[0]
    if existing is None or existing.get_status(refresh=False) not in ACTIVE:
        queue(QueueName.DEFAULT, connection).enqueue_call(
            f"{JOBS}.merge_locals", args=(source_id, target_id, actor_id), job_id=job_id,
            timeout=60 * 60, result_ttl=24 * 3600, failure_ttl=24 * 3600,
            description=f"merge local {source_id} into {target_id}",
        )  # fmt: skip
    return job_id


def merge_state(connection: redis.Redis, source_id: int, target_id: int) -> dict:
    """{"status": queued | started | finished | failed | None, "moved", "left"} of a merge."""
    job = Job.fetch_many([merge_job_id(source_id, target_id)], connection=connection)[0]
    if job is None:
        return {"status": None, "moved": 0, "left": None}
    meta = job.get_meta(refresh=False)
    return {"status": str(job.get_status(refresh=False)), "moved": meta.get("moved", 0),
            "left": meta.get("left")}  # fmt: skip
