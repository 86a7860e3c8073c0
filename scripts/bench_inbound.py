"""Inbound reply throughput and latency under gunicorn, beside the same server's empty TwiML.

Usage: python scripts/bench_inbound.py [--replies 20000] [--concurrency 32] [--workers 2]
       [--threads 8] [--rq-workers 2] [--rate 500] [--rates 500,1000] [--seconds 120]

Seeds members texted by one campaign, starts gunicorn on scripts/bench_inbound_app.py on a
free 127.0.0.1 port and posts signed Twilio replies (keywords, STOP, HELP, questions) to
`/twilio/sms` and, as the baseline, to the same server's `/bench/empty-twiml`.

1. Closed loop (each lane sends when answered: the webhook's ceiling) with no worker
   running yet, so the CPU per reply is the request path's alone (web + PostgreSQL): the
   burst waits in Redis, as it does when replies outrun the workers.
2. `textbank worker` processes (--rq-workers, at nice 10) drain that burst: the workers'
   rate and CPU.
3. Open loops at each of --rates with the workers running (a fixed schedule, as Twilio
   sends; latency from the scheduled time), and the time from a reply's answer to its
   being processed by a worker (p50/p99).
Then checks that none was lost and that every reply was processed (processed_at set).
BENCH_DATABASE_URL (default textbank_bench, wiped) and BENCH_REDIS_URL
(default redis://127.0.0.1:6379/13, flushed) pick the services.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen
import redis
import requests
import uvloop
from bench_blast import free_port, start_sandbox
from benchlib import CpuMeter, _processes, scratch_database
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from twilio.request_validator import RequestValidator

from textbank.bulk import bulk_insert
from textbank.campaigns.lifecycle import create_campaign
from textbank.db import make_session_factory, session_scope
from textbank.members.demo import member_csv
from textbank.members.importer import import_members
from textbank.models import InboundMessage, Member, OutboundMessage, utcnow
from textbank.sandbox.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

# The sandbox carrier's own credentials: the workers send the keywords' thanks through it.
ACCOUNT, TOKEN = DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
OUR_NUMBER = "+16175550100"
SCRIPTS = Path(__file__).resolve().parent
BODIES = [  # (share, choices): a day of replies to a GOTV text
    (0.40, ["YES", "yes!", "Yes", "Sí", "yes I will vote"]),
    (0.10, ["VOLUNTEER", "volunteer"]),
    (0.05, ["STOP", "stop"]),
    (0.03, ["HELP"]),
    (0.42, ["Where is my polling place?", "What time do the polls close?",
            "Can I bring my kid?", "Who is the union endorsing for governor?",
            "I already voted early", "Is there a ride to the polls from the hospital?"]),
]  # fmt: skip
TARGET_RATE, TARGET_P99_MS = 500.0, 100.0
WARM = 200  # requests per route before timing: every worker thread and connection is up


def seed(sessions, members: int) -> list[str]:
    """Members, a campaign with keywords and a delivered text to each; returns their phones."""
    with session_scope(sessions) as session:
        import_members(session, member_csv(members, seed=13, fictional=False))
    with session_scope(sessions) as session:
        campaign = create_campaign(session, {
            "name": "GOTV bench", "kind": "gotv",
            "message": "Hi {first_name}, Local {local} votes Tuesday. Reply YES to pledge.",
            "keywords": {"YES": "pledged_to_vote", "VOLUNTEER": "volunteer"},
            "replies": {"pledged_to_vote": "Thanks {first_name}! See you at the polls.",
                        "volunteer": "Thank you! An organizer will text you about shifts."},
        })  # fmt: skip
        campaign.status = "completed"
        rows = session.execute(select(Member.id, Member.phone, Member.language)).all()
        sent = utcnow() - timedelta(hours=2)
        columns = ["campaign_id", "member_id", "phone", "body", "language", "segments",
                   "status", "attempts", "twilio_sid", "twilio_status", "created_at",
                   "sent_at", "delivered_at", "updated_at"]  # fmt: skip
        bulk_insert(session, OutboundMessage.__table__, columns, [
            (campaign.id, mid, phone, "Hi, Local votes Tuesday. Reply YES to pledge.", lang, 1,
             "delivered", 1, "SM" + uuid.uuid4().hex, "delivered", sent, sent, sent, sent)
            for mid, phone, lang in rows
        ])  # fmt: skip
    return [phone for _, phone, _ in rows]


def settle(engine) -> None:
    """Measure the steady state, not the seed's aftermath: fresh statistics, dirty pages
    written out, so neither autovacuum nor a checkpoint lands in the middle of a run."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        # CHECKPOINT needs superuser or pg_checkpoint; without it the run is just noisier.
        with contextlib.suppress(DBAPIError):
            conn.execute(text("CHECKPOINT"))


def build_requests(base: str, path: str, phones: list[str], count: int, rng: random.Random):
    """Requests as bytes, signed as Twilio signs them, made before any timing."""
    url, validator = base + path, RequestValidator(TOKEN)
    shares, choices = zip(*BODIES, strict=True)
    out = []
    for _ in range(count):
        sid, phone = "SM" + uuid.uuid4().hex, rng.choice(phones)
        params = {"ToCountry": "US", "ToState": "MA", "SmsMessageSid": sid, "NumMedia": "0",
                  "ToCity": "BOSTON", "FromZip": "", "SmsSid": sid, "FromState": "MA",
                  "SmsStatus": "received", "FromCity": "", "FromCountry": "US",
                  "Body": rng.choice(rng.choices(choices, shares)[0]), "To": OUR_NUMBER,
                  "ToZip": "02108", "NumSegments": "1", "MessageSid": sid,
                  "AccountSid": ACCOUNT, "From": phone, "ApiVersion": "2010-04-01"}  # fmt: skip
        signature = validator.compute_signature(url, params)
        out.append(loadgen.form_request(url, params, {"X-Twilio-Signature": signature}))
    return url, out


def load(url, reqs, concurrency, rate=None, limit_s=10.0) -> dict:
    return uvloop.run(loadgen.run(url, reqs, concurrency, rate, limit_s))


def start_gunicorn(
    env: dict, port: int, workers: int, threads: int, log: Path, worker_class: str = "gthread"
):
    # Default -w 4 -k gthread --threads 4, the fastest tried on this 2-core box for both
    # routes: empty route ~2,200/s and replies ~76/s, against -w 2 --threads 8 (1,700, 56),
    # -w 8 sync (690, 33) and -w 4 sync (510, 31); sync workers lose on accept and keep-alive.
    kind = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    if worker_class == "gevent":  # as the Procfile serves the app
        kind = ["-k", "gevent", "--worker-connections", "1000"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(SCRIPTS), "-b", f"127.0.0.1:{port}",
             "-w", str(workers), *kind, "--backlog", "2048", "--log-level", "warning",
             "bench_inbound_app:app"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    for _ in range(300):  # workers import the app after the port is bound: wait for an answer
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"gunicorn did not answer; see {log}")


def profile(master: int, out: Path, pids: list[int] | None = None) -> list[subprocess.Popen]:
    """py-spy on each gunicorn worker (collapsed stacks, for finding where a reply's CPU goes)."""
    out.mkdir(parents=True, exist_ok=True)
    pids = pids or [p for p, (parent, _) in _processes().items() if parent == master]
    spies = [subprocess.Popen(["py-spy", "record", "--pid", str(p), "--rate", "250", "--format",
                               "raw", "--nonblocking", "-o", str(out / f"web-{p}.txt")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in pids]  # fmt: skip
    time.sleep(1)
    return spies


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # graceful: requests in progress finish first
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def show(label: str, r: dict) -> float:
    lat, rate, errors = r["latencies"], r["ok"] / r["elapsed"], r["errors"]
    print(f"  {label:<30}: {r['sent']:>6,} req in {r['elapsed']:5.1f} s {rate:7.0f} /s   "
          f"p50 {pct(lat, .5):6.1f}  p90 {pct(lat, .9):6.1f}  p99 {pct(lat, .99):6.1f} ms"
          f"   errors {sum(errors.values())}{' ' + str(errors) if errors else ''}")  # fmt: skip
    return rate


def start_workers(env: dict, count: int, log: Path) -> list[subprocess.Popen]:
    """`textbank worker` processes at nice 10, as on any box the web shares with workers:
    the webhook answers first, and a burst the workers cannot keep up with waits in Redis
    (answer -> processed grows) instead of in Twilio's queue (the webhook's p99 grows)."""
    with open(log, "ab") as out:
        return [
            subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "textbank.cli", "worker"],
                             env=env, stdout=out, stderr=subprocess.STDOUT)
            for _ in range(count)
        ]  # fmt: skip


def drain(sessions, expected: int, limit_s: float) -> tuple[int, float]:
    """Wait until `expected` replies are processed (or limit_s passes); (processed, seconds)."""
    start = time.perf_counter()
    while True:
        _, done, _ = tally(sessions)
        elapsed = time.perf_counter() - start
        if done >= expected or elapsed > limit_s:
            return done, elapsed
        time.sleep(0.2)


def answer_to_processed(sessions, since_id: int) -> str:
    """p50/p99 from a reply's storing (its answer follows within the millisecond) to its
    processing by a worker; the replies the webhook acted on itself are left out."""
    with session_scope(sessions) as session:
        rows = session.execute(
            select(InboundMessage.created_at, InboundMessage.processed_at).where(
                InboundMessage.id > since_id,
                InboundMessage.classification.in_(("keyword", "conversation")),
            )
        ).all()
    waits = sorted((done - made).total_seconds() for made, done in rows if done)
    if not waits:
        return "none processed"
    return (f"{len(waits):,} by the workers: p50 {pct(waits, .5):,.0f} ms, "
            f"p99 {pct(waits, .99):,.0f} ms, max {waits[-1] * 1000:,.0f} ms")  # fmt: skip


def last_id(sessions) -> int:
    with session_scope(sessions) as session:
        return session.scalar(select(func.coalesce(func.max(InboundMessage.id), 0))) or 0


def tally(sessions) -> tuple[int, int, str]:
    """Replies stored, replies processed (processed_at set), and how they were classified."""
    with session_scope(sessions) as session:
        kind = InboundMessage.classification
        done = func.count(InboundMessage.processed_at)
        rows = session.execute(select(kind, func.count(), done).group_by(kind)).all()
    rows.sort(key=lambda row: -row[1])
    mix = ", ".join(f"{n:,} {kind}" for kind, n, _ in rows)
    return sum(row[1] for row in rows), sum(row[2] for row in rows), mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads; 1 = sync")
    parser.add_argument("--worker-class", choices=("gthread", "gevent"), default="gthread")
    parser.add_argument("--rq-workers", type=int, default=2, help="`textbank worker` processes")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="the target's rate, /s")
    parser.add_argument("--rates", default="500,1000", help="open-loop rates, /s, by commas")
    parser.add_argument("--seconds", type=float, default=120, help="time bound per load")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy the web workers during the "
        "closed loop (collapsed stacks in DIR; its figures are then no target's)",
    )
    parser.add_argument(
        "--profile-workers",
        metavar="DIR",
        help="py-spy the `textbank worker`s while they drain the burst",
    )
    args = parser.parse_args()

    engine = scratch_database()
    sessions = make_session_factory(engine)
    phones = seed(sessions, args.members)
    settle(engine)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    redis.Redis.from_url(redis_url).flushdb()
    port, logs = free_port(), Path(tempfile.mkdtemp(prefix="textbank-bench-"))
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TEXTBANK_ENV": "test", "TEXTBANK_INSTANCE_PATH": str(logs),
           "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base, "TWILIO_ACCOUNT_SID": ACCOUNT,
           "TWILIO_AUTH_TOKEN": TOKEN, "TEXTBANK_ORG_NAME": "Bench Federation"}  # fmt: skip
    rng = random.Random(2026)
    rates = sorted({args.rate, *(float(r) for r in args.rates.split(","))})
    n, n_open = args.replies, int(sum(rates) * 10)  # each open loop runs for ten seconds
    empty_url, empty = build_requests(base, "/bench/empty-twiml", phones, n + n_open + WARM, rng)
    sms_url, sms = build_requests(base, "/twilio/sms", phones, n + n_open + WARM, rng)
    kind = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
    if args.worker_class == "gevent":
        kind = "gevent"
    print(f"{args.members:,} members texted by one campaign in {engine.url.database}; "
          f"gunicorn -w {args.workers} ({kind}); {args.concurrency} lanes; "
          f"{os.cpu_count()} cores; log in {logs}")  # fmt: skip

    # The keywords' thanks go out through the send pipeline: to the sandbox carrier, never
    # to api.twilio.com (unreachable here: the sends would hold the workers for minutes).
    sandbox, env["TWILIO_API_URL"] = start_sandbox(0)
    proc = start_gunicorn(
        env, port, args.workers, args.threads, logs / "gunicorn.log", args.worker_class
    )
    workers: list[subprocess.Popen] = []
    opened: dict[float, dict] = {}
    try:
        load(empty_url, empty[-WARM:], args.concurrency)
        load(sms_url, sms[-WARM:], args.concurrency)
        print(f"\nclosed loop, {args.concurrency} lanes, no worker running yet")
        roots: dict[str, int | list[int]] = {"web": proc.pid}
        with CpuMeter(roots, own="load generator") as base_cpu:
            baseline = load(empty_url, empty[:n], args.concurrency, limit_s=args.seconds)
        base_rate = show("baseline  empty TwiML route", baseline)
        spies = profile(proc.pid, Path(args.profile)) if args.profile else []
        with CpuMeter(roots, own="load generator") as cpu:
            closed = load(sms_url, sms[:n], args.concurrency, limit_s=args.seconds)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        rate = show("textbank  POST /twilio/sms", closed)
        print(f"  CPU per request, empty route  : {base_cpu.per(baseline['sent'])}\n"
              f"  CPU per reply, textbank       : {cpu.per(closed['sent'])}")  # fmt: skip
        request_path = (cpu.used.get("web", 0) + cpu.used.get("PostgreSQL", 0)) / closed["sent"]
        print(f"  request path (web+PostgreSQL) : {request_path * 1000:.2f} ms CPU per reply")
        ratio = rate / base_rate if base_rate else float("nan")
        print(f"  textbank / baseline           : {ratio:7.0%} of the empty route")
        # Every closed-loop request has had its answer, so each one's commits are done.
        stored, done, _ = tally(sessions)
        sent, ok = WARM + closed["sent"], WARM + closed["ok"]
        kept = stored == sent == ok
        print(f"  none lost                     : {stored:,} stored == {sent:,} sent -> "
              f"{'yes' if kept else 'NO'} ({ok:,} answered 200)")  # fmt: skip

        print(f"\n{args.rq_workers} workers drain the burst")
        backlog = stored - done
        workers = start_workers(env, args.rq_workers, logs / "worker.log")
        roots["workers"] = [w.pid for w in workers]
        spies = []
        if args.profile_workers:
            spies = profile(0, Path(args.profile_workers), [w.pid for w in workers])
        with CpuMeter(roots, own="load generator") as work_cpu:
            done, took = drain(sessions, stored, args.seconds * 2)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        print(f"  processed {done:,} of {stored:,} in {took:.1f} s "
              f"({backlog / took:,.0f} replies/s, worker start included)\n"
              f"  CPU per reply, workers        : {work_cpu.per(backlog)}\n"
              f"  classified                    : {tally(sessions)[2]}")  # fmt: skip

        for open_rate in rates:
            print(f"\nopen loop, {open_rate:.0f} requests/s for 10 s with the workers running "
                  f"(latency from the scheduled time)")  # fmt: skip
            share = int(open_rate * 10)
            before = last_id(sessions)
            show("baseline  empty TwiML route", load(empty_url, empty[n : n + share], 0, open_rate))
            opened[open_rate] = load(sms_url, sms[n : n + share], 0, open_rate)
            n += share
            show("textbank  POST /twilio/sms", opened[open_rate])
            stored, _, _ = tally(sessions)
            done, took = drain(sessions, stored, args.seconds)
            waits = answer_to_processed(sessions, before)
            print(f"  answer -> processed           : {waits} (all {done:,} of {stored:,} "
                  f"processed {took:.1f} s after the loop)")  # fmt: skip
    finally:
        for worker in workers:
            stop(worker)
        stop(proc)
        stop(sandbox)
    stored, done, _ = tally(sessions)
    sent = WARM + closed["sent"] + sum(r["sent"] for r in opened.values())
    print(f"\nstored {stored:,} of {sent:,} sent in all, processed {done:,} "
          f"(answers given up on after 15 s may be missing)")  # fmt: skip
    p99 = pct(opened[args.rate]["latencies"], 0.99)
    processed = done == stored
    meets = rate >= TARGET_RATE and p99 < TARGET_P99_MS and kept and processed
    print(f"\ntarget: >= {TARGET_RATE:.0f} replies/s ({rate:.0f}), p99 < {TARGET_P99_MS:.0f} ms "
          f"at {args.rate:.0f}/s ({p99:.1f} ms), none lost ({'yes' if kept else 'no'}), "
          f"every reply processed ({'yes' if processed else 'no'}) -> "
          f"{'meets' if meets else 'MISSES'}")  # fmt: skip


if __name__ == "__main__":
    main()
