"""Sending one bucket of a blast: claim its rows, gate and send them concurrently, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import redis.asyncio as aioredis
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from textbank.blasts.guards import OptOutWatch, TokenReservoir
from textbank.blasts.outbox import Claimed, Outcome, claim, complete_if_done, record
from textbank.blasts.periodic import Periodic
from textbank.blasts.ratelimit import AsyncTokenBucket
from textbank.compliance.quiet_hours import SendWindow
from textbank.config import Settings
from textbank.models import utcnow as default_now
from textbank.twilio.attempts import DEFAULT_QUARANTINE, REQUEST_ERRORS, Attempt, classify
from textbank.twilio.clients import async_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendOptions:
    """How a worker sends: pace, window, patience."""

    window: SendWindow
    rate: float
    callback_base: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    concurrency: int = 96
    request_timeout: float = 10.0
    max_tries: int = 5
    # A worker gives a claimed row back to the sweeper after this long, so the
    # sweeper can reconcile it without racing a request still in flight.
    claim_ttl: float = 90.0
    # No resend of a text whose create had an unknown outcome until this long after it began.
    quarantine: float = DEFAULT_QUARANTINE

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> SendOptions:
        return cls(
            window=settings.send_window,
            rate=settings.send_rate,
            callback_base=settings.public_base_url,
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            concurrency=settings.send_concurrency,
            claim_ttl=settings.claim_ttl,
            request_timeout=settings.twilio_timeout,
            quarantine=settings.send_quarantine,
            **overrides,
        )

    @property
    def sender(self) -> str:
        return self.messaging_service_sid or self.from_number or "default"

    @property
    def stuck_after(self) -> float:
        """Seconds after which a claimed row can no longer be in flight from any worker."""
        return self.claim_ttl + self.request_timeout + 5

    @property
    def claim_size(self) -> int:
        # About five seconds of sending at the shared rate: short claims keep the
        # window and opt-out checks fresh and bound what a dead worker leaves behind.
        # At most 500: each chunk costs a claim, a record and its senders' setup, and
        # 250 spent ~15% more worker CPU per message than 500 in the blast benchmark.
        return int(min(500, max(20, self.rate * 5)))


LANES = 3  # claim-send-record loops per job, sharing one concurrency gate
ALIVE_TTL = 20  # seconds; a bucket whose sender stops refreshing this is up for grabs
REDIS_TIMEOUT = 5.0  # seconds for any one Redis call from a sender
RETRY_LATER = 30.0  # seconds a row waits when Redis, not Twilio, kept it from being sent


def alive_key(campaign_id: int, bucket: int) -> str:
    """Set while a worker is sending this bucket; gone soon after that worker dies."""
    return f"textbank:sending:{campaign_id}:{bucket}"


def _heartbeat(aredis, key: str) -> Periodic:
    """Keeps `key` alive while started; a worker that dies stops refreshing it."""

    async def beat() -> None:
        try:
            await aredis.set(key, "1", ex=ALIVE_TTL)
        except redis.RedisError as exc:
            log.warning("heartbeat %s: %s", key, exc)

    return Periodic(beat, ALIVE_TTL / 4, f"heartbeat {key}")


def _backoff(attempt: int) -> float:
    return min(8.0, 0.25 * 2**attempt) * (0.5 + random.random())


async def _find_sent(client, row: Claimed, since: datetime) -> tuple[str, str] | None:
    """Did an earlier attempt reach Twilio after all? Look before sending again."""
    messages = await client.messages.list_async(to=row.phone, limit=100, page_size=100)
    for m in messages:
        created = m.date_created
        if m.body == row.body and (created is None or created >= since - timedelta(minutes=5)):
            return m.sid, m.status
    return None


async def _send_one(
    client, row: Claimed, opts: SendOptions, pace: TokenReservoir, guards: OptOutWatch,
    claimed_at: datetime, deadline: float,
) -> Outcome:  # fmt: skip
    """One row's text: sent, failed, skipped, retry (nothing reached Twilio) or unknown.

    An unknown outcome (a timeout or 5xx after the request may have been written) is never
    retried here: one look at the member's messages, then the row waits out its quarantine
    (textbank.twilio.attempts) and the sweeper decides. Only a failure that provably created
    nothing (a 429, no connection) is retried at once.
    """
    last_error = "its claim ran out"
    retry_after = 0.0
    for attempt in range(opts.max_tries):
        if time.monotonic() + opts.request_timeout > deadline:
            break
        if row.phone in guards.phones and not row.compliance:
            return Outcome(row, "skipped", error_message="opted out while the blast ran")
        try:
            if not guards.healthy:
                raise redis.ConnectionError("opt-out watch has no fresh answer")
            await pace.take()
        except redis.RedisError as exc:
            # Without Redis neither the opt-out check nor the pace holds: wait, don't send.
            last_error, retry_after = f"Redis unavailable: {exc}", RETRY_LATER
            await asyncio.sleep(_backoff(attempt))
            continue
        params = {
            "to": row.phone,
            "body": row.body,
            "status_callback": f"{opts.callback_base}/twilio/sms/status?m={row.id}",
            "validity_period": row.validity,
        }
        if opts.messaging_service_sid:
            params["messaging_service_sid"] = opts.messaging_service_sid
        else:
            params["from_"] = opts.from_number
        started = default_now()
        try:
            message = await client.messages.create_async(**params)
            return Outcome(row, "sent", sid=message.sid, twilio_status=message.status)
        except REQUEST_ERRORS as exc:
            verdict = classify(exc)
            if verdict is Attempt.REFUSED:
                assert isinstance(exc, TwilioRestException)
                return Outcome(row, "failed", error_code=exc.code, error_message=exc.msg)
            last_error = _describe(exc)
            if verdict is Attempt.UNKNOWN:
                return await _unknown(client, row, claimed_at, started, last_error)
            retry_after = 0.0
        log.info("message %s: attempt %d failed (%s), retrying", row.id, attempt + 1, last_error)
        await asyncio.sleep(_backoff(attempt))
    log.info("message %s: back to pending after %s", row.id, last_error)
    return Outcome(row, "retry", error_message=last_error, retry_after=retry_after)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status} (Twilio error {exc.code})"
    return f"{type(exc).__name__}: {exc}"


async def _unknown(
    client, row: Claimed, claimed_at: datetime, started: datetime, error: str
) -> Outcome:
    """A create that may have reached Twilio: found now, or quarantined from `started`."""
    try:
        found = await _find_sent(client, row, claimed_at)
    except REQUEST_ERRORS as exc:
        found, error = None, f"{error}; looking for it failed: {_describe(exc)}"
    if found:
        return Outcome(row, "sent", sid=found[0], twilio_status=found[1])
    log.warning("message %s: outcome unknown (%s); quarantined", row.id, error)
    return Outcome(row, "unknown", error_message=error, attempted_at=started)


async def send_claimed(
    rows: list[Claimed], opts: SendOptions, client, pace: TokenReservoir, guards: OptOutWatch,
    claimed_at: datetime, gate: asyncio.Semaphore,
) -> list[Outcome]:  # fmt: skip
    """Send rows with at most `gate` requests in flight, all paced by the shared bucket.

    The gate is the worker's, shared by its lanes, so a lane busy with the database lends
    its share to the others. A few senders take the rows in turn, not a task per row: a
    chunk's hundreds of tasks waiting on the gate cost more than their sends' bookkeeping.
    """
    deadline = time.monotonic() + opts.claim_ttl
    outcomes: dict[int, Outcome] = {}
    queue = iter(rows)

    async def sender() -> None:
        for row in queue:
            async with gate:
                outcomes[row.id] = await _send_one(client, row, opts, pace, guards, claimed_at,
                                                   deadline)  # fmt: skip

    await asyncio.gather(*(sender() for _ in range(min(opts.concurrency, len(rows)))))
    return [outcomes[row.id] for row in rows]


@dataclass
class BucketReport:
    campaign_id: int
    bucket: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry: int = 0
    unknown: int = 0

    def add(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            setattr(self, o.kind, getattr(self, o.kind) + 1)


@dataclass
class Channels:
    """What a sender talks through: the Twilio client, and Redis for pace and opt-outs.

    Opened once per event loop and kept across buckets: each bucket opening its own would
    reconnect to Twilio (a new TCP and TLS handshake per request in flight) every few
    seconds of a blast.
    """

    client: Client
    aredis: aioredis.Redis
    redis: redis.Redis

    @classmethod
    def open(cls, settings: Settings, redis_url: str) -> Channels:
        # A socket timeout on every call: a sender waits on Redis for its pace and opt-outs,
        # and must hear that Redis is gone (and hold off) rather than wait for ever.
        aredis = aioredis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT,
                                   socket_connect_timeout=REDIS_TIMEOUT)  # fmt: skip
        return cls(async_client(settings), aredis, redis.Redis.from_url(redis_url))

    async def aclose(self) -> None:
        await self.client.http_client.close()
        await self.aredis.aclose()
        self.redis.close()


async def send_bucket(
    sessions: sessionmaker[Session], settings: Settings, redis_url: str, campaign_id: int,
    bucket: int, bucket_size: int, opts: SendOptions,
    now: Callable[[], datetime] = default_now, channels: Channels | None = None,
    gather: float = 0.0,
) -> BucketReport:  # fmt: skip
    """Send every due row of one bucket of a campaign; safe to run twice or concurrently.

    Through `channels` when given (kept open for the next bucket), else through its own.
    With `gather`, the job waits that long (its heartbeat already saying it runs, so new
    releases queue no other job) and then claims in one lane: rows released by hand come
    a few at a time, and a blast's parallel lanes would each claim nothing.
    """
    report = BucketReport(campaign_id, bucket)
    bucket_range = (bucket * bucket_size, bucket * bucket_size + bucket_size - 1)
    own = channels is None
    if channels is None:
        channels = Channels.open(settings, redis_url)
    client, aredis, sync_redis = channels.client, channels.aredis, channels.redis
    pace = TokenReservoir(
        AsyncTokenBucket(aredis, f"textbank:rate:{opts.sender}", opts.rate), opts.rate
    )

    def claim_step() -> tuple[list[Claimed], datetime]:
        stamp = now()
        with sessions.begin() as session:
            return claim(session, campaign_id, bucket_range, opts.window, opts.claim_size,
                         stamp), stamp  # fmt: skip

    def record_step(outcomes: list[Outcome]) -> None:
        with sessions.begin() as session:
            record(session, outcomes, now(), sync_redis)

    try:
        # Opt-outs from a minute before the first claim on: the claim itself read the database.
        async with OptOutWatch(aredis, since=now().timestamp() - 60) as guards:
            gate = asyncio.Semaphore(opts.concurrency)

            async def lane() -> None:
                while True:
                    rows, stamp = await asyncio.to_thread(claim_step)
                    if not rows:
                        return
                    outcomes = await send_claimed(rows, opts, client, pace, guards, stamp, gate)
                    await asyncio.to_thread(record_step, outcomes)
                    report.add(outcomes)

            # Lanes overlap one chunk's tail and bookkeeping with the next chunk's sends;
            # the atomic claim keeps them from ever taking the same row.
            key = alive_key(campaign_id, bucket)
            beat = _heartbeat(aredis, key).start(step_first=True)
            try:
                if gather > 0:
                    await asyncio.sleep(gather)
                await asyncio.gather(*(lane() for _ in range(1 if gather > 0 else LANES)))
            finally:
                await beat.stop()
                with contextlib.suppress(redis.RedisError):
                    await aredis.delete(key)
    finally:
        if own:
            await channels.aclose()
    with sessions.begin() as session:
        complete_if_done(session, campaign_id, now())
    log.info(
        "campaign %s bucket %s: sent %d failed %d skipped %d retry %d unknown %d",
        campaign_id, bucket, report.sent, report.failed, report.skipped, report.retry,
        report.unknown,
    )  # fmt: skip
    return report
