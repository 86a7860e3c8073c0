"""The volunteer console under load: simulated volunteers over HTTP against gunicorn.

Usage: python scripts/bench_console.py [--volunteers 200] [--batch 15] [--think 1.5]
       [--reply-share 0.3] [--seconds 30] [--workers 4] [--send-workers 2] [--reply-workers 1]

On PostgreSQL, with gunicorn run as the Procfile runs it, `textbank worker` processes and
the sandbox carrier: every simulated volunteer signs in first (timed apart: 200 password
hashes are not a Send's cost) and keeps the inbox's event stream (`/volunteer/events`) open
for the whole run; then each requests a batch and sends its first texts one press at a time
(a pause of --think seconds between presses, as a person reads the next name), and answers
each reply that reaches its console. The sandbox plays members: a share of the members
texted reply, each reply carrying a marker, timed from the moment the sandbox posts the
signed webhook to the moment the marker arrives on the volunteer's open stream, and split
into hops by the stamps the feed puts on each update (stored by the webhook, published by
the worker: the same clock, one machine). --reply-workers start the Procfile's `replies`
process (`textbank worker --queue textbank-replies`) beside the general ones. The same
run measures the same server's empty route under the same volunteers as the baseline.
Then it waits for the pipeline and counts duplicates and lost texts at the carrier.
BENCH_DATABASE_URL (default textbank_bench_console, wiped) and BENCH_REDIS_URL
(default redis://127.0.0.1:6379/12, flushed) pick the services.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import redis
import requests
from bench_blast import free_port, start_workers
from bench_inbound import settle, stop
from benchlib import CpuMeter, scratch_database
from sqlalchemy import func, select

from textbank.accounts import create_user
from textbank.campaigns.lifecycle import create_campaign
from textbank.compliance.quiet_hours import SendWindow
from textbank.db import make_session_factory, session_scope
from textbank.members.demo import member_csv
from textbank.members.importer import import_members
from textbank.models import OutboundMessage, User
from textbank.sandbox import SandboxConfig, SandboxServer
from textbank.sandbox.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/textbank_bench_console"
PASSWORD = "bench volunteer password"  # noqa: S105 - made-up accounts in a scratch database
TARGET_SEND_P99_MS, TARGET_REPLY_P99_MS = 150.0, 1000.0
ROW = re.compile(rb'name="row" value="(\d+)"')
CSRF = re.compile(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
MARK = re.compile(r"bench-q(\d+)")
STAMP = re.compile(r"^: reply \d+ stored ([\d.]+) published ([\d.]+)")


def procfile_web(port: int, workers: int) -> list[str]:
    """The Procfile's web line, with its environment filled in (its own defaults otherwise)."""
    line = (ROOT / "Procfile").read_text().split("web:", 1)[1].splitlines()[0]
    line = line.replace("$PORT", str(port)).replace("${WEB_CONCURRENCY:-4}", str(workers))
    line = re.sub(r"\$\{\w+:-(\w+)\}", r"\1", line)
    args = line.split()
    assert args[0] == "gunicorn", line
    return [sys.executable, "-m", "gunicorn", "--chdir", str(SCRIPTS),
            *[a.strip("'") for a in args[1:] if a != "--access-logfile" and a != "-"],
            "--log-level", "warning"]  # fmt: skip


def procfile_command(name: str) -> list[str]:
    """A `textbank ...` line of the Procfile, run with this interpreter."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    args = next(line for line in lines if line.startswith(f"{name}:")).split(":", 1)[1].split()
    assert args[0] == "textbank", args
    return [sys.executable, "-m", "textbank.cli", *args[1:]]


def start_reply_workers(n: int, env: dict, logs: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        with open(logs / f"replies{i}.log", "ab") as log:
            procs.append(subprocess.Popen(procfile_command("replies"), env=env, stdout=log,
                                          stderr=subprocess.STDOUT))  # fmt: skip
    return procs


def start_web(env: dict, port: int, workers: int, log: Path):
    command = procfile_web(port, workers)
    command[command.index("textbank.wsgi:app")] = "bench_console_app:app"
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
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


def seed(sessions, volunteers: int, batch: int) -> tuple[int, list[str]]:
    """Members, one P2P campaign launched (held, nobody texted) and the volunteers."""
    members = volunteers * batch + 100
    with session_scope(sessions) as session:
        import_members(session, member_csv(members, seed=14, fictional=False))
    with session_scope(sessions) as session:
        campaign = create_campaign(session, {
            "name": "Rally bench", "kind": "volunteer", "mode": "p2p", "batch_size": batch,
            "message": "Hi {first_name}, this is Local {local}. Can you come Saturday?",
            "keywords": {"YES": "attending"},
        })  # fmt: skip
        campaign_id = campaign.id
    from textbank.blasts.launch import snapshot_audience

    snapshot_audience(sessions, campaign_id, SendWindow(0, 1440), on_buckets=lambda *_: None)
    emails = [f"bench{i}@example.org" for i in range(volunteers)]
    with session_scope(sessions) as session:
        for email in emails:
            create_user(session, email, "volunteer", PASSWORD)
    return campaign_id, emails


class Stats:
    def __init__(self) -> None:
        self.send_latency: list[float] = []
        self.base_latency: list[float] = []
        self.pressed = 0
        self.queued = 0
        self.reply_sent_at: dict[int, float] = {}
        self.reply_sent_wall: dict[int, float] = {}
        self.reply_latency: list[float] = []
        self.hops: dict[str, list[float]] = {"webhook": [], "worker": [], "to console": []}
        self.answered = 0
        self.errors: collections.Counter = collections.Counter()
        self.streams_open = 0
        self.tasks: set[asyncio.Task] = set()  # answers in progress, kept from the collector
        self.sign_in_latency: list[float] = []
        self.elapsed = 0.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


class Volunteer:
    """One simulated volunteer: a browser's cookies and CSRF token, and an open inbox."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=30))  # fmt: skip
        self.token = ""
        self.stream: asyncio.Task | None = None

    async def sign_in(self, base: str, stats: Stats) -> None:
        t0 = time.perf_counter()
        page = await (await self.http.get(f"{base}/login")).read()
        data = {"email": self.email, "password": PASSWORD,
                "csrf_token": CSRF.search(page)[1].decode()}  # fmt: skip
        await (await self.http.post(f"{base}/login", allow_redirects=False, data=data)).read()
        home = await (await self.http.get(f"{base}/volunteer")).read()
        self.token = CSRF.search(home)[1].decode()
        stats.sign_in_latency.append(time.perf_counter() - t0)

    async def open_inbox(self, base: str, stats: Stats) -> None:
        ready = asyncio.Event()
        self.stream = asyncio.create_task(events(self, base, stats, ready))
        await asyncio.wait_for(ready.wait(), 30)

    async def close(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await self.stream
        await self.http.close()


async def events(v: Volunteer, base: str, stats: Stats, ready: asyncio.Event) -> None:
    """The inbox's stream: time each marked reply, and answer it as a volunteer would."""
    timeout = aiohttp.ClientTimeout(total=None)
    async with v.http.get(f"{base}/volunteer/events", timeout=timeout) as r:
        if r.status != 200:
            stats.errors[f"events {r.status}"] += 1
            ready.set()
            return
        stats.streams_open += 1
        ready.set()
        event, stamp = "", None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith(": reply "):
                stamp = STAMP.match(line)
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event.startswith("conv-"):
                for mark in MARK.findall(line):
                    sent = stats.reply_sent_at.pop(int(mark), None)
                    if sent is not None:
                        stats.reply_latency.append(time.perf_counter() - sent)
                        wall = stats.reply_sent_wall.pop(int(mark), None)
                        if stamp is not None and wall is not None:
                            stored, published = float(stamp[1]), float(stamp[2])
                            stats.hops["webhook"].append(stored - wall)
                            stats.hops["worker"].append(published - stored)
                            stats.hops["to console"].append(time.time() - published)
                        conversation = int(event[5:])
                        stats.tasks.add(asyncio.create_task(answer(v, base, conversation, stats)))


async def answer(v: Volunteer, base: str, conversation: int, stats: Stats) -> None:
    await asyncio.sleep(random.uniform(0.5, 2.0))  # reading it
    data = {"csrf_token": v.token, "key": f"bench-{conversation}-{random.random()}",
            "message": "It's at the union hall, 10 AM. See you there!"}  # fmt: skip
    try:
        r = await v.http.post(f"{base}/volunteer/conversations/{conversation}/reply", data=data,
                              headers={"HX-Request": "true"})  # fmt: skip
        await r.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        stats.errors[f"reply {type(exc).__name__}"] += 1
        return
    if r.status == 200:
        stats.answered += 1
    else:
        stats.errors[f"reply {r.status}"] += 1


async def empty_route(v: Volunteer, base: str, think: float, stats: Stats, until: float) -> None:
    """The baseline: the same volunteer pressing a route that does nothing, at the same pace."""
    await asyncio.sleep(random.uniform(0, think))  # volunteers arrive over a moment
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        r = await v.http.post(f"{base}/bench/empty", data={"csrf_token": v.token})
        await r.read()
        stats.base_latency.append(time.perf_counter() - t0)
        await asyncio.sleep(random.expovariate(1 / think))


async def shift(v: Volunteer, base: str, campaign_id: int, think: float, stats: Stats,
                until: float) -> None:  # fmt: skip
    """A batch, then one press of Send per member, a reader's pause between presses."""
    await asyncio.sleep(random.uniform(0, think))
    r = await v.http.post(f"{base}/volunteer/campaigns/{campaign_id}/batch",
                          data={"csrf_token": v.token}, allow_redirects=False)  # fmt: skip
    await r.read()
    page = await (await v.http.get(f"{base}/volunteer/campaigns/{campaign_id}")).read()
    row = ROW.search(page)
    while row and time.perf_counter() < until:
        await asyncio.sleep(random.expovariate(1 / think))
        t0 = time.perf_counter()
        r = await v.http.post(f"{base}/volunteer/campaigns/{campaign_id}/send",
                              data={"csrf_token": v.token, "row": row[1].decode()},
                              headers={"HX-Request": "true"})  # fmt: skip
        body = await r.read()
        stats.send_latency.append(time.perf_counter() - t0)
        stats.pressed += 1
        if r.status != 200:
            stats.errors[f"send {r.status}"] += 1
            break
        if b"Sent. Here is the next member." in body:
            stats.queued += 1
        row = ROW.search(body)


async def members_reply(sessions, sandbox_url, campaign_id, share, stats, until) -> int:
    """The sandbox plays members: a share of those just texted answer with a marked question."""
    seen: set[int] = set()
    posting: list[asyncio.Task] = []
    n = 0
    rng = random.Random(7)
    async with aiohttp.ClientSession() as s:
        while time.perf_counter() < until:
            await asyncio.sleep(0.2)
            with sessions() as session:
                sent = session.execute(
                    select(OutboundMessage.id, OutboundMessage.phone).where(
                        OutboundMessage.campaign_id == campaign_id,
                        OutboundMessage.twilio_sid.is_not(None),
                        OutboundMessage.conversation_id.is_(None),
                    )
                ).all()
            for row_id, phone in sent:
                if row_id in seen:
                    continue
                seen.add(row_id)
                if rng.random() >= share:
                    continue
                n += 1
                posting.append(asyncio.create_task(reply(s, sandbox_url, phone, n, stats)))
        await asyncio.gather(*posting, return_exceptions=True)  # before the session closes
    return n


async def reply(s, sandbox_url: str, phone: str, n: int, stats: Stats) -> None:
    """One member's marked question, timed from the moment the sandbox is asked to post it."""
    stats.reply_sent_at[n] = time.perf_counter()
    stats.reply_sent_wall[n] = time.time()
    r = await s.post(f"{sandbox_url}/sandbox/reply",
                     json={"from": phone, "body": f"Where is it? bench-q{n}"})  # fmt: skip
    await r.read()
    if r.status != 200:
        stats.errors[f"sandbox reply {r.status}"] += 1


async def gather_counting(stats: Stats, tasks) -> None:
    for r in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
            stats.errors[type(r).__name__] += 1


async def run(args, base, sandbox_url, sessions, campaign_id, emails, roots) -> tuple:
    """Sign everyone in and open their inboxes; then the baseline; then the shift."""
    signing, base_stats, stats = Stats(), Stats(), Stats()
    crowd = [Volunteer(e) for e in emails]
    profilers: list[subprocess.Popen] = []
    try:
        # A shift starts with everyone signing in (a password hash each, on purpose slow):
        # timed on its own, then the inboxes stay open through both measured phases.
        t0 = time.perf_counter()
        lanes = asyncio.Semaphore(16)

        async def arrive(v: Volunteer) -> None:
            async with lanes:
                await v.sign_in(base, signing)
            await v.open_inbox(base, stats)  # replies are counted in the shift's figures

        await gather_counting(signing, [arrive(v) for v in crowd])
        signing.elapsed = time.perf_counter() - t0
        await asyncio.sleep(2)
        with CpuMeter(roots, own="volunteers + sandbox") as base_cpu:
            until = time.perf_counter() + args.seconds
            await gather_counting(base_stats, [empty_route(v, base, args.think, base_stats, until)
                                               for v in crowd])  # fmt: skip
        profilers = profile_shift(args.profile, roots, args.seconds)
        with CpuMeter(roots, own="volunteers + sandbox") as cpu:
            until = time.perf_counter() + args.seconds
            tasks = [shift(v, base, campaign_id, args.think, stats, until) for v in crowd]
            tasks.append(members_reply(sessions, sandbox_url, campaign_id, args.reply_share,
                                       stats, until))  # fmt: skip
            await gather_counting(stats, tasks)
            # The shift goes on: inboxes stay open for the last replies and their answers.
            deadline = time.perf_counter() + 8
            while stats.reply_sent_at and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
            await gather_counting(stats, list(stats.tasks))
    finally:
        await asyncio.gather(*(v.close() for v in crowd), return_exceptions=True)
    for p in profilers:
        p.wait()
    return signing, base_cpu, base_stats, cpu, stats


def profile_shift(out: str | None, roots: dict, seconds: float) -> list[subprocess.Popen]:
    """py-spy (if asked) samples the web and the workers through the shift, as folded stacks
    in OUT/<group>.txt: where a Send's CPU goes. It costs CPU itself: time a run without it."""
    if not out:
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    procs = []
    for name, root in roots.items():
        for i, pid in enumerate([root] if isinstance(root, int) else root):
            command = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                       "--format", "raw", "--rate", "50", "--duration", str(int(seconds)),
                       "--output", f"{out}/{name}{i}.txt"]  # fmt: skip
            procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))  # fmt: skip
    return procs


def carrier_counts(sandbox: SandboxServer, released: list[tuple[str, str]]) -> tuple[int, int, int]:
    """The released first texts as the carrier got them: texted, duplicates, lost."""
    got = collections.Counter(
        (m.to, m.body) for m in sandbox.state.all_messages() if m.direction == "outbound-api"
    )
    counts = [got[(phone, body)] for phone, body in released]
    return sum(1 for n in counts if n), sum(n - 1 for n in counts if n > 1), counts.count(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--batch", type=int, default=15)
    parser.add_argument("--think", type=float, default=1.5, help="mean seconds between presses")
    parser.add_argument("--reply-share", type=float, default=0.3)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each shift")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--send-workers", type=int, default=2, help="textbank worker processes")
    parser.add_argument("--reply-workers", type=int, default=1,
                        help="the Procfile's `replies` processes (replies only)")  # fmt: skip
    parser.add_argument("--profile", metavar="DIR", help="py-spy the shift into DIR (slower)")
    args = parser.parse_args()

    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    engine = scratch_database()
    sessions = make_session_factory(engine)
    campaign_id, emails = seed(sessions, args.volunteers, args.batch)
    settle(engine)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    redis.Redis.from_url(redis_url).flushdb()
    port, logs = free_port(), Path(tempfile.mkdtemp(prefix="textbank-bench-console-"))
    base = f"http://127.0.0.1:{port}"
    sandbox = SandboxServer(SandboxConfig(sms_url=f"{base}/twilio/sms", callback_delay_ms=50,
                                          random_seed=1)).start()  # fmt: skip
    env = {**os.environ, "TEXTBANK_ENV": "test", "TEXTBANK_INSTANCE_PATH": str(logs),
           "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base, "TWILIO_API_URL": sandbox.url,
           "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": "+16175550100", "TEXTBANK_SEND_WINDOW": "00:00-24:00",
           "TEXTBANK_SEND_RATE": "500"}  # fmt: skip
    print(f"{len(emails)} volunteers, batches of {args.batch}, a press every {args.think} s "
          f"on average, {args.reply_share:.0%} of members reply; gunicorn "
          f"{' '.join(procfile_web(port, args.workers)[6:])} (the Procfile's line); "
          f"{args.send_workers} textbank workers + {args.reply_workers} replies workers; "
          f"{os.cpu_count()} cores; logs in {logs}")  # fmt: skip
    web = start_web(env, port, args.workers, logs / "gunicorn.log")
    workers = start_workers(args.send_workers, env, str(logs))
    workers += start_reply_workers(args.reply_workers, env, logs)
    try:
        roots = {"web": web.pid, "workers": [w.pid for w in workers]}
        signing, base_cpu, base_stats, cpu, stats = asyncio.run(
            run(args, base, sandbox.url, sessions, campaign_id, emails, roots)
        )
        # Let the pipeline finish what was pressed before counting at the carrier.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sessions() as session:
                waiting = session.scalar(select(func.count()).where(
                    OutboundMessage.campaign_id == campaign_id,
                    OutboundMessage.status.in_(("pending", "sending", "deferred"))))  # fmt: skip
            if not waiting:
                break
            time.sleep(0.5)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        stop(web)
    with sessions() as session:
        released = [
            (phone, body)
            for phone, body in session.execute(
                select(OutboundMessage.phone, OutboundMessage.body).where(
                    OutboundMessage.campaign_id == campaign_id,
                    OutboundMessage.conversation_id.is_(None),
                    OutboundMessage.status.not_in(("held", "skipped")),
                )
            )
        ]
        volunteers_seen = session.scalar(select(func.count()).select_from(User))
    pressed_rows = len(released)
    texted, duplicates, lost = carrier_counts(sandbox, released)
    sandbox.stop()
    secs = args.seconds
    base_rate = len(base_stats.base_latency) / secs
    base_lat = base_stats.base_latency
    sign = signing.sign_in_latency
    print(f"\nsign-in   {len(sign)} volunteers, 16 at a time   : {signing.elapsed:5.1f} s   "
          f"p50 {pct(sign, .5):6.1f}  p99 {pct(sign, .99):6.1f} ms   "
          f"errors {dict(signing.errors) or 0}")  # fmt: skip
    print(f"baseline  empty route, same volunteers : {base_rate:7.1f} req/s   "
          f"p50 {pct(base_lat, .5):6.1f}  p99 {pct(base_lat, .99):6.1f} ms"
          f"   errors {sum(base_stats.errors.values())}")  # fmt: skip
    # Closed loop: each volunteer presses, waits for the answer, then pauses --think. Both
    # rates are what the volunteers asked for at that pace, not what the server could do.
    print(
        f"  (both phases: {len(emails)} volunteers / {args.think} s = "
        f"{len(emails) / args.think:.0f} presses/s offered, fewer when answers are slow)"
    )
    print(f"textbank  Send (first texts)           : {stats.queued / secs:7.1f} sends/s "
          f"p50 {pct(stats.send_latency, .5):6.1f}  p99 {pct(stats.send_latency, .99):6.1f} ms"
          f"   ({stats.pressed:,} presses, {stats.queued:,} sent)")  # fmt: skip
    print(
        f"  Send p99 / empty route p99           : "
        f"{pct(stats.send_latency, 0.99) / pct(base_stats.base_latency, 0.99):7.2f}x"
    )
    print(f"reply webhook -> open console          : {len(stats.reply_latency):,} replies   "
          f"p50 {pct(stats.reply_latency, .5):6.1f}  p99 {pct(stats.reply_latency, .99):6.1f} ms"
          f"   ({len(stats.reply_sent_at)} never arrived; {stats.answered} answered)")  # fmt: skip
    hops = "   ".join(f"{name} {pct(v, .5) / 1000:.2f}/{pct(v, .99) / 1000:.2f} s"
                       for name, v in stats.hops.items())  # fmt: skip
    print(f"  hops p50/p99                         : {hops}")
    print(
        f"event streams open at once             : {stats.streams_open} of {len(emails)}"
        f" ({volunteers_seen} accounts)"
    )
    print(
        f"first texts at the carrier             : {texted:,} members for {pressed_rows:,} "
        f"released rows; duplicates {duplicates}; lost {lost}"
    )
    print(f"errors                                 : {dict(stats.errors) or 'none'}")
    print(f"CPU per empty request                  : {base_cpu.per(len(base_stats.base_latency))}")
    print(f"CPU per Send                           : {cpu.per(max(1, stats.pressed))}")
    p99, reply99 = pct(stats.send_latency, 0.99), pct(stats.reply_latency, 0.99)
    ok = (p99 < TARGET_SEND_P99_MS and reply99 < TARGET_REPLY_P99_MS and duplicates == 0
          and lost == 0 and stats.streams_open == len(emails))  # fmt: skip
    print(f"\ntarget: {len(emails)} volunteers, Send p99 < {TARGET_SEND_P99_MS:.0f} ms "
          f"({p99:.0f}), "
          f"reply-to-console p99 < {TARGET_REPLY_P99_MS:.0f} ms ({reply99:.0f}), 0 duplicate or "
          f"lost -> {'meets' if ok else 'MISSES'}")  # fmt: skip


if __name__ == "__main__":
    main()
