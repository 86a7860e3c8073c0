"""Placing one bucket of a voice campaign's calls: claim, gate, calls.create, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from textbank.blasts.guards import OptOutWatch
from textbank.blasts.periodic import Periodic
from textbank.calls import outbox
from textbank.calls.optouts import RECENT_CALL_OPT_OUTS
from textbank.calls.outbox import Claimed
from textbank.calls.pacing import CallPace, LiveCalls, call_bucket, slot_name
from textbank.calls.script import DEFAULT_RING_SECONDS
from textbank.compliance.quiet_hours import SendWindow
from textbank.config import Settings
from textbank.models import Campaign
from textbank.models import utcnow as default_now
from textbank.twilio.attempts import REQUEST_ERRORS, Attempt, classify
from textbank.twilio.clients import WireClient

log = logging.getLogger(__name__)

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
ALIVE_TTL = 20
LANES = 2
SLOT_POLL = 0.05  # seconds between looks for a free concurrent-call slot


@dataclass(frozen=True)
class CallOptions:
    """How a worker places calls: pace, cap, window, patience."""

    window: SendWindow
    rate: float
    concurrency: int
    callback_base: str
    from_number: str
    request_timeout: float = 10.0
    claim_ttl: float = 90.0
    max_tries: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> CallOptions:
        return cls(
            window=settings.send_window,
            rate=settings.call_rate,
            concurrency=settings.call_concurrency,
            callback_base=settings.public_base_url,
            from_number=settings.twilio_from_number or "",
            request_timeout=settings.twilio_timeout,
            claim_ttl=settings.claim_ttl,
        )

    @property
    def claim_size(self) -> int:
        # Two seconds of calls at the shared rate (no more than can be live at once): a
        # claim must be placed well within claim_ttl, or its tail is given back unplaced.
        return int(max(1, min(500, self.concurrency, self.rate * 2)))

    @property
    def in_flight(self) -> int:
        """Create requests a worker keeps open at once."""
        return max(1, min(self.concurrency, 64, int(self.rate) + 1))


def alive_key(campaign_id: int, bucket: int) -> str:
    return f"textbank:calling:{campaign_id}:{bucket}"


def call_urls(base: str, row: Claimed) -> tuple[str, str]:
    """The answer URL and the status callback URL of one attempt: both name the row and attempt."""
    query = f"?a={row.attempt}"
    return (f"{base}/twilio/voice/calls/{row.id}{query}",
            f"{base}/twilio/voice/calls/{row.id}/status{query}")  # fmt: skip


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status} (Twilio error {exc.code})"
    return f"{type(exc).__name__}: {exc}"


def _backoff(attempt: int) -> float:
    return min(8.0, 0.25 * 2**attempt) * (0.5 + random.random())


@dataclass
class Result:
    row: Claimed
    kind: str  # placed | refused | skipped | unknown | given_back
    sid: str | None = None
    twilio_status: str | None = None
    error_code: int | None = None
    message: str = ""


@dataclass
class Gates:
    bucket: CallPace
    live: LiveCalls
    watches: tuple[OptOutWatch, ...]

    def opted_out(self, phone: str) -> bool:
        return any(phone in w.phones for w in self.watches)

    @property
    def healthy(self) -> bool:
        return all(w.healthy for w in self.watches)


async def place_one(
    client, row: Claimed, opts: CallOptions, gates: Gates, deadline: float
) -> Result:
    """Place one attempt's call once at most: a 429 is retried, anything unclear is left."""
    result = await _place_one(client, row, opts, gates, deadline)
    if result.kind in ("skipped", "given_back"):
        # No call: its slot goes, whether taken here or rebuilt from the database while the
        # row waited (nobody asks for that attempt's slot again).
        with contextlib.suppress(redis.RedisError):
            await gates.live.release(slot_name(row.id, row.attempt))
    return result


async def _place_one(
    client, row: Claimed, opts: CallOptions, gates: Gates, deadline: float
) -> Result:
    slot = slot_name(row.id, row.attempt)
    last = ""
    for attempt in range(opts.max_tries):
        if time.monotonic() + opts.request_timeout > deadline:
            break
        if gates.opted_out(row.phone):
            return Result(row, "skipped")
        try:
            if not gates.healthy:
                raise redis.ConnectionError("opt-out watch has no fresh answer")
            while not await gates.live.try_take(slot):
                if time.monotonic() + opts.request_timeout > deadline:
                    return Result(row, "given_back", message="no free concurrent-call slot")
                await asyncio.sleep(SLOT_POLL)
            await gates.bucket.acquire()
        except redis.RedisError as exc:
            # Without Redis neither the pace, the cap nor the opt-out check holds: wait.
            last = f"Redis unavailable: {exc}"
            await asyncio.sleep(_backoff(attempt))
            continue
        url, status_url = call_urls(opts.callback_base, row)
        try:
            call = await client.calls.create_async(
                to=row.phone, from_=opts.from_number, url=url, method="POST",
                status_callback=status_url, status_callback_method="POST",
                status_callback_event=STATUS_EVENTS, timeout=row.ring_seconds,
                machine_detection="DetectMessageEnd",
            )  # fmt: skip
            return Result(row, "placed", sid=call.sid, twilio_status=call.status)
        except REQUEST_ERRORS as exc:
            outcome = classify(exc)
            if outcome is Attempt.UNKNOWN:
                # It may have been created: never placed again from here (see reconcile.py).
                return Result(row, "unknown", message=_describe(exc))
            with contextlib.suppress(redis.RedisError):
                await gates.live.release(slot)
            if outcome is Attempt.REFUSED:
                rest = exc if isinstance(exc, TwilioRestException) else None
                return Result(row, "refused", error_code=rest.code if rest else None,
                              message=str(rest.msg) if rest else _describe(exc))  # fmt: skip
            last = _describe(exc)  # a 429 or never sent: nothing was created, try again
            await asyncio.sleep(_backoff(attempt))
    return Result(row, "given_back", message=last or "its claim ran out")


def record(session: Session, results: list[Result], now: datetime) -> None:
    placed = [(r.row, r.sid or "", r.twilio_status or "queued") for r in results
              if r.kind == "placed"]  # fmt: skip
    outbox.placed(session, placed, now)
    for r in results:
        if r.kind == "placed":
            continue
        if r.kind == "refused":
            outbox.refused(session, r.row, r.error_code, r.message, now)
        elif r.kind == "skipped":
            outbox.skip(session, r.row, now)
        elif r.kind == "unknown":
            outbox.unknown(session, r.row, r.message, now)
            log.warning("call row %s attempt %s: %s; the reconciler will look for it",
                        r.row.id, r.row.attempt, r.message)  # fmt: skip
        else:
            outbox.give_back(session, r.row, now, r.message)


async def place_claimed(
    client, rows: list[Claimed], opts: CallOptions, gates: Gates
) -> list[Result]:
    """Place claimed rows with a few requests in flight, every one through the shared gates."""
    deadline = time.monotonic() + opts.claim_ttl
    queue = iter(rows)
    results: list[Result] = []

    async def caller() -> None:
        for row in queue:
            results.append(await place_one(client, row, opts, gates, deadline))

    await asyncio.gather(*(caller() for _ in range(min(opts.in_flight, len(rows)))))
    return results


async def warm_carrier(client, connections: int) -> int:
    """Open the connections to the carrier that the callers will use, before the first turn:
    otherwise each of a bucket's first creates opens its own (a TCP and TLS handshake)
    and the first second at 200 calls/s comes out slow. Kept connections (the worker's
    client outlives a bucket) count, so later buckets open few or none."""
    http = getattr(client, "http_client", None)
    if not isinstance(http, WireClient):
        return 0  # a blocking client (tests, scripts) keeps no pool to warm
    return await http.warm(client.api.base_url, connections)


@dataclass
class BucketReport:
    campaign_id: int
    bucket: int
    placed: int = 0
    refused: int = 0
    skipped: int = 0
    unknown: int = 0
    given_back: int = 0


async def place_bucket(
    sessions: sessionmaker[Session], client, aredis: aioredis.Redis, campaign_id: int,
    bucket: int, opts: CallOptions, now: Callable[[], datetime] = default_now,
) -> BucketReport:  # fmt: skip
    """Place every due call of one bucket; safe to run twice or concurrently."""
    report = BucketReport(campaign_id, bucket)
    with sessions() as session:
        voice = session.scalar(select(Campaign.voice).where(Campaign.id == campaign_id)) or {}
    ring = int(voice.get("ring_seconds", DEFAULT_RING_SECONDS))
    since = now().timestamp() - 60
    async with (
        OptOutWatch(aredis, since=since) as everywhere,
        OptOutWatch(aredis, since=since, key=RECENT_CALL_OPT_OUTS) as no_calls,
    ):

        def not_over() -> tuple[list[str], list[str]]:
            with sessions() as session:
                return outbox.attempts_not_over(session)

        live = LiveCalls(aredis, opts.concurrency, lambda: asyncio.to_thread(not_over))
        gates = Gates(call_bucket(aredis, opts.from_number, opts.rate), live,
                      (everywhere, no_calls))  # fmt: skip
        with contextlib.suppress(redis.RedisError):  # without Redis nothing is placed anyway
            await gates.bucket.start()
        opened = await warm_carrier(client, opts.in_flight)
        log.debug("voice campaign %s bucket %s: %d carrier connections opened", campaign_id,
                  bucket, opened)  # fmt: skip
        beat_key = alive_key(campaign_id, bucket)

        async def beat() -> None:
            with contextlib.suppress(redis.RedisError):
                await aredis.set(beat_key, "1", ex=ALIVE_TTL)

        heartbeat = Periodic(beat, ALIVE_TTL / 4, f"heartbeat {beat_key}").start(step_first=True)

        def claim_step() -> list[Claimed]:
            with sessions.begin() as session:
                return outbox.claim(session, campaign_id, bucket, opts.window, opts.claim_size,
                                    now(), ring)  # fmt: skip

        def record_step(results: list[Result]) -> None:
            with sessions.begin() as session:
                record(session, results, now())

        async def lane() -> None:
            while rows := await asyncio.to_thread(claim_step):
                results = await place_claimed(client, rows, opts, gates)
                await asyncio.to_thread(record_step, results)
                for r in results:
                    setattr(report, r.kind, getattr(report, r.kind) + 1)

        try:
            # Two lanes: one places calls while the other records its claim and claims the
            # next, so the database's turns leave no gap in the pace. The claim is atomic and
            # the bucket shared: two lanes never take one row, nor exceed the rate.
            await asyncio.gather(*(lane() for _ in range(LANES)))
        finally:
            await heartbeat.stop()
            with contextlib.suppress(redis.RedisError):
                await aredis.delete(beat_key)
    with sessions.begin() as session:
        outbox.complete_if_done(session, campaign_id, now())
    log.info("voice campaign %s bucket %s: %s", campaign_id, bucket, report)
    return report
