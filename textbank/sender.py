"""Sending one bucket of outbound rows: claim atomically, gate, send concurrently, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import redis
import redis.asyncio as aioredis
from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from textbank.carrier import async_client
from textbank.config import Settings
from textbank.db import among, dialect_name
from textbank.engagement import Step, mark, mark_accepted
from textbank.models import Campaign, CampaignStatus, Member, OptOutSource, OutboundMessage
from textbank.models import utcnow as default_now
from textbank.optouts import opt_out_member
from textbank.phones import time_zones
from textbank.ratelimit import AsyncTokenBucket
from textbank.send_guards import OptOutWatch, TokenReservoir
from textbank.send_window import SendWindow, WindowCheck, check, validity_seconds
from textbank.twilio_codes import (
    TWILIO_STATUS,
    UNFINISHED,
    UNSUBSCRIBED,
    WAITING,
    MessageStatus,
    is_transient_http,
)

log = logging.getLogger(__name__)
T = OutboundMessage.__table__


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
        return int(min(250, max(20, self.rate * 5)))


LANES = 3  # claim-send-record loops per job, sharing one concurrency gate
ENDED_AS = {"failed": MessageStatus.FAILED, "skipped": MessageStatus.SKIPPED}


@dataclass
class Claimed:
    id: int
    member_id: int
    phone: str
    body: str
    validity: int


@dataclass
class Outcome:
    row: Claimed
    kind: str  # sent | failed | skipped | abandoned
    sid: str | None = None
    twilio_status: str | None = None
    error_code: int | None = None
    error_message: str | None = None


ALIVE_TTL = 20  # seconds; a bucket whose sender stops refreshing this is up for grabs


def alive_key(campaign_id: int, bucket: int) -> str:
    """Set while a worker is sending this bucket; gone soon after that worker dies."""
    return f"textbank:sending:{campaign_id}:{bucket}"


async def _heartbeat(aredis, key: str) -> None:
    while True:
        try:
            await aredis.set(key, "1", ex=ALIVE_TTL)
        except redis.RedisError as exc:
            log.warning("heartbeat %s: %s", key, exc)
        await asyncio.sleep(ALIVE_TTL / 4)


SENDING_STATES = (CampaignStatus.SENDING, CampaignStatus.LAUNCHING)


def claim(
    session: Session, campaign_id: int, bucket_range: tuple[int, int], opts: SendOptions,
    now: datetime,
) -> list[Claimed]:  # fmt: skip
    """Move due rows of the bucket from waiting to sending; only one worker gets each row.

    None while the campaign is not sending (paused, cancelled).
    """
    lo, hi = bucket_range
    in_bucket = and_(T.c.campaign_id == campaign_id, T.c.id.between(lo, hi))
    # The opt-out list is checked again here, at send time, not only at launch.
    session.execute(
        update(T)
        .where(
            in_bucket,
            T.c.status.in_(WAITING),
            T.c.member_id.in_(select(Member.id).where(Member.opted_out_at.is_not(None))),
        )
        .values(status=MessageStatus.SKIPPED, error_message="opted out before sending",
                updated_at=now)
    )  # fmt: skip
    sending = exists().where(Campaign.id == campaign_id, Campaign.status.in_(SENDING_STATES))
    candidates = session.execute(
        select(T.c.id, T.c.member_id, T.c.phone, T.c.body)
        .where(in_bucket, T.c.status.in_(WAITING), sending,
               or_(T.c.send_after.is_(None), T.c.send_after <= now))
        .order_by(T.c.id)
        .limit(opts.claim_size)
        .with_for_update(of=T, skip_locked=True)
    ).all()  # fmt: skip
    validity: dict[int, int] = {}
    due = []
    deferrals = []
    gates: dict[tuple[str, ...], WindowCheck] = {}
    for row in candidates:
        zones = time_zones(row.phone)
        gate = gates.get(zones) or gates.setdefault(zones, check(opts.window, zones, now))
        if gate.open:
            validity[row.id] = validity_seconds(gate, now)
            due.append(row)
        else:
            deferrals.append({"row_id": row.id, "opens": gate.opens_at})
    if deferrals:
        session.execute(
            update(T)
            .where(T.c.id == bindparam("row_id"), T.c.status.in_(WAITING))
            .values(status=MessageStatus.DEFERRED, send_after=bindparam("opens"), updated_at=now),
            deferrals,
        )
    if not due:
        return []
    # The rows are locked (FOR UPDATE above) until this transaction ends: no one else can
    # have moved them, so what was read is what is claimed.
    session.execute(
        update(T)
        .where(among(T.c.id, validity, dialect_name(session)))
        .values(status=MessageStatus.SENDING, claimed_at=now, attempts=T.c.attempts + 1,
                updated_at=now)
    )  # fmt: skip
    return [Claimed(r.id, r.member_id, r.phone, r.body, validity[r.id]) for r in due]


def _record_sent(row_id, sid, tstatus, new_status):
    """A sent row takes its SID and status, unless a callback already moved it on."""
    sending = T.c.status == MessageStatus.SENDING
    return (
        update(T)
        .where(T.c.id == row_id)
        .values(
            twilio_sid=func.coalesce(T.c.twilio_sid, sid),
            sent_at=func.coalesce(T.c.sent_at, bindparam("now")),
            twilio_status=case((sending, tstatus), else_=T.c.twilio_status),
            status=case((sending, new_status), else_=T.c.status),
            updated_at=bindparam("now"),
        )
    )


_RECORD_SENT = _record_sent(
    bindparam("row_id"), bindparam("sid"), bindparam("tstatus"), bindparam("new_status")
)
# PostgreSQL: a chunk's rows as four arrays, one statement, instead of a statement per row.
_SENT = (
    func.unnest(
        bindparam("row_ids", type_=ARRAY(Integer)), bindparam("sids", type_=ARRAY(String)),
        bindparam("tstatuses", type_=ARRAY(String)), bindparam("statuses", type_=ARRAY(String)),
    )
    .table_valued(column("row_id", Integer), column("sid", String), column("tstatus", String),
                  column("status", String))
    .render_derived(name="sent")
)  # fmt: skip
_RECORD_SENT_ARRAYS = _record_sent(_SENT.c.row_id, _SENT.c.sid, _SENT.c.tstatus, _SENT.c.status)


def record(session: Session, outcomes: list[Outcome], now: datetime, redis_client=None) -> None:
    """Write send results; never moves a row backwards (a callback may have beaten us)."""
    sending = T.c.status == MessageStatus.SENDING
    sent = [o for o in outcomes if o.kind == "sent"]
    if sent:
        rows = [(o.row.id, o.sid, o.twilio_status,
                 str(TWILIO_STATUS.get(o.twilio_status or "", MessageStatus.SENT)))
                for o in sent]  # fmt: skip
        if dialect_name(session) == "postgresql":
            ids, sids, tstatuses, statuses = (list(c) for c in zip(*rows, strict=True))
            session.execute(
                _RECORD_SENT_ARRAYS,
                {
                    "row_ids": ids,
                    "sids": sids,
                    "now": now,
                    "tstatuses": tstatuses,
                    "statuses": statuses,
                },
            )
        else:
            session.execute(_RECORD_SENT, [
                {"row_id": i, "sid": sid, "tstatus": t, "new_status": st, "now": now}
                for i, sid, t, st in rows
            ])  # fmt: skip
    ended = [o for o in outcomes if o.kind in ("failed", "skipped")]
    if ended:
        session.execute(
            update(T)
            .where(T.c.id == bindparam("row_id"), sending)
            .values(status=bindparam("new_status"), error_code=bindparam("code"),
                    error_message=bindparam("message"), updated_at=now),
            [
                {"row_id": o.row.id, "code": o.error_code, "message": (o.error_message or "")[:300],
                 "new_status": ENDED_AS[o.kind]}
                for o in ended
            ],
        )  # fmt: skip
    mark_accepted(
        session,
        (
            (o.row.member_id, TWILIO_STATUS.get(o.twilio_status or "", MessageStatus.SENT))
            for o in sent
        ),
        now,
    )
    mark(session, (o.row.member_id for o in outcomes if o.kind == "failed"), Step.FAILED, now)
    for o in outcomes:
        if o.kind == "failed" and o.error_code == UNSUBSCRIBED:
            opt_out_member(session, o.row.member_id, OptOutSource.CARRIER, now, redis_client,
                           o.row.phone)  # fmt: skip


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
    ambiguous = False  # an earlier attempt may have been created at Twilio
    last_error = ""
    for attempt in range(opts.max_tries):
        if time.monotonic() + opts.request_timeout > deadline:
            break
        if ambiguous:
            try:
                found = await _find_sent(client, row, claimed_at)
            except (TwilioRestException, aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"reconcile failed: {exc}"
                await asyncio.sleep(_backoff(attempt))
                continue
            if found:
                return Outcome(row, "sent", sid=found[0], twilio_status=found[1])
        if row.phone in guards.phones:
            return Outcome(row, "skipped", error_message="opted out while the blast ran")
        try:
            if not guards.healthy:
                raise redis.ConnectionError("opt-out watch has no fresh answer")
            await pace.take()
        except redis.RedisError as exc:
            # Without Redis neither the opt-out check nor the pace holds: wait, don't send.
            last_error = f"Redis unavailable: {exc}"
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
        try:
            message = await client.messages.create_async(**params)
            return Outcome(row, "sent", sid=message.sid, twilio_status=message.status)
        except TwilioRestException as exc:
            if not is_transient_http(exc.status):
                return Outcome(row, "failed", error_code=exc.code, error_message=exc.msg)
            ambiguous = ambiguous or exc.status != 429  # a 429 is never created
            last_error = f"HTTP {exc.status} (Twilio error {exc.code})"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ambiguous = True
            last_error = f"{type(exc).__name__}: {exc}"
        log.info("message %s: attempt %d failed (%s), retrying", row.id, attempt + 1, last_error)
        await asyncio.sleep(_backoff(attempt))
    log.warning(
        "message %s: left to the sweeper after %s", row.id, last_error or "its claim ran out"
    )
    return Outcome(row, "abandoned", error_message=last_error)


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


def unfinished(session: Session, campaign_id: int) -> int:
    return session.scalar(
        select(func.count()).where(T.c.campaign_id == campaign_id, T.c.status.in_(UNFINISHED))
    )


def complete_if_done(session: Session, campaign_id: int, now: datetime) -> bool:
    """Mark a sending campaign completed once no row is waiting or in flight."""
    if unfinished(session, campaign_id):
        return False
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.COMPLETED, completed_at=now)
    ).rowcount
    if done:
        log.info("campaign %s completed", campaign_id)
    return bool(done)


@dataclass
class BucketReport:
    campaign_id: int
    bucket: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    abandoned: int = 0

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

    client: object
    aredis: aioredis.Redis
    redis: redis.Redis

    @classmethod
    def open(cls, settings: Settings, redis_url: str, timeout: float) -> Channels:
        return cls(async_client(settings, timeout=timeout), aioredis.from_url(redis_url),
                   redis.Redis.from_url(redis_url))  # fmt: skip

    async def aclose(self) -> None:
        await self.client.http_client.close()
        await self.aredis.aclose()
        self.redis.close()


async def send_bucket(
    sessions: sessionmaker[Session], settings: Settings, redis_url: str, campaign_id: int,
    bucket: int, bucket_size: int, opts: SendOptions,
    now: Callable[[], datetime] = default_now, channels: Channels | None = None,
) -> BucketReport:  # fmt: skip
    """Send every due row of one bucket of a campaign; safe to run twice or concurrently.

    Through `channels` when given (kept open for the next bucket), else through its own.
    """
    report = BucketReport(campaign_id, bucket)
    bucket_range = (bucket * bucket_size, bucket * bucket_size + bucket_size - 1)
    own = channels is None
    if channels is None:
        channels = Channels.open(settings, redis_url, opts.request_timeout)
    client, aredis, sync_redis = channels.client, channels.aredis, channels.redis
    pace = TokenReservoir(
        AsyncTokenBucket(aredis, f"textbank:rate:{opts.sender}", opts.rate), opts.rate
    )

    def claim_step() -> tuple[list[Claimed], datetime]:
        stamp = now()
        with sessions.begin() as session:
            return claim(session, campaign_id, bucket_range, opts, stamp), stamp

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
            beat = asyncio.create_task(_heartbeat(aredis, alive_key(campaign_id, bucket)))
            try:
                await asyncio.gather(*(lane() for _ in range(LANES)))
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError, redis.RedisError):
                    await beat
                    await aredis.delete(alive_key(campaign_id, bucket))
    finally:
        if own:
            await channels.aclose()
    with sessions.begin() as session:
        complete_if_done(session, campaign_id, now())
    log.info(
        "campaign %s bucket %s: sent %d failed %d skipped %d abandoned %d",
        campaign_id, bucket, report.sent, report.failed, report.skipped, report.abandoned,
    )  # fmt: skip
    return report
