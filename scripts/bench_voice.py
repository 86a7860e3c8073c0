"""Voice campaign pacing and cost through the sandbox carrier, beside a naive paced SDK loop.

Usage: python scripts/bench_voice.py [--members 10000] [--rates 10 50 200] [--workers 2]
                                    [--seconds S] [--drain-limit S] [--carrier played|light]

For each configured calls-per-second rate: a voice campaign to every member, on PostgreSQL,
with real `textbank worker` processes, the app under gunicorn taking the TwiML requests and
status callbacks, and the sandbox carrier in its own process playing each call (a person
who presses 1, or one call in five a machine that takes the voicemail). Prints the achieved
calls per second beside the configured rate (overall, and the busiest and quietest 10 s
windows by the carrier's own clock, with when each starts), CPU per call in the workers and
in the web app, and duplicate calls. `--carrier light` has the sandbox stamp and answer each
create but play no call (no TwiML, no callbacks): the pace alone, without the CPU that
playing calls costs on the same two cores. The baseline, in this process against the same
carrier: a naive script that places calls one after another with the twilio SDK, sleeping
1/rate between them.
BENCH_DATABASE_URL (default textbank_bench_voice, wiped) and BENCH_REDIS_URL (default
redis://127.0.0.1:6379/11, flushed) pick the services.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
import requests
from bench_blast import free_port
from benchlib import CpuMeter, scratch_database
from sqlalchemy import func, select

from textbank import enqueue
from textbank.blasts.launch import begin_launch, launch_state
from textbank.campaigns.lifecycle import create_campaign, set_paused
from textbank.config import Settings
from textbank.db import make_session_factory, session_scope
from textbank.members.demo import member_csv
from textbank.members.importer import import_members
from textbank.models import Call, Campaign, CampaignStatus, utcnow
from textbank.twilio.clients import rest_client
from textbank.twilio.codes import CALL_ENDED, CALL_LIVE, CALL_WAITING, CallStatus

ORG = "Local 1199"
SCRIPT = (f"This is {ORG} calling, {{first_name}}. To stop these calls, press 9. "
          "Press 1 to volunteer for Saturday. Call us back at 617-555-0100.")  # fmt: skip
SCRIPT_ES = (f"Le llama {ORG}. Para no recibir más llamadas, oprima 9. "
             "Oprima 1 para ser voluntario. Llámenos al 617-555-0100.")  # fmt: skip
VOICEMAIL = f"This is {ORG} about Saturday. Call us back at 617-555-0100."
WINDOW = 10.0  # seconds: the pacing window


def _carrier_priority() -> None:
    """The carrier stands for Twilio's own machines, which our load does not slow: ahead of
    the app on the shared cores (where allowed), so it takes each create as it arrives
    rather than when its event loop next gets a core. Its CPU is counted all the same."""
    with contextlib.suppress(OSError):
        os.nice(-10)


def start_sandbox(play_calls: bool = True) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "textbank.cli", "sandbox", "--port", str(port),
         "--callback-delay-ms", "5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_carrier_priority,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(f"{url}/sandbox/state", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        raise RuntimeError("the sandbox did not start")
    # Everyone answers: a person pressing 1, or (one in five) a machine taking the voicemail.
    requests.post(f"{url}/sandbox/config", json={"call_digits": "1", "machine_rate": 0.2,
                                                  "gather_wait_seconds": 5,
                                                  "play_calls": play_calls}, timeout=5)  # fmt: skip
    return proc, url


def start_web(env: dict, port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "textbank.wsgi:app", "-b", f"127.0.0.1:{port}",
             "-w", "2", "-k", "gthread", "--threads", "4", "--backlog", "2048",
             "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer; see {log}")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def start_workers(n: int, env: dict, logs: Path) -> list[subprocess.Popen]:
    """`textbank worker` processes that note when each calls.create leaves them (voice_trace)."""
    trace = Path(__file__).resolve().parent / "voice_trace.py"
    procs = []
    for i in range(n):
        with open(logs / f"worker{i}.log", "ab") as out:
            command = [sys.executable, str(trace), str(logs / "sent")]
            procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
    return procs


def sent_stamps(directory: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(to, attempt) -> (sent, answered) of every calls.create the workers made."""
    out = {}
    for path in directory.glob("sent-*.tsv"):
        for line in path.read_text().splitlines():
            to, attempt, sent, answered = line.split("\t")
            out[(to, attempt)] = (float(sent), float(answered))
    return out


def profile(roots: dict, logs: Path, rate: float) -> list[subprocess.Popen]:
    """With BENCH_VOICE_PYSPY set, py-spy samples the web app and the workers over the run
    (collapsed stacks in the logs directory). Its sampling costs CPU: such a run's figures
    are for finding where the time goes, not for reporting."""
    if not os.environ.get("BENCH_VOICE_PYSPY"):
        return []
    targets = [("web", roots["web"]), *((f"worker{i}", p) for i, p in enumerate(roots["workers"]))]
    return [
        subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", "200", "--subprocesses",
                          "--nonblocking", "-o", str(logs / f"pyspy-{name}-{rate:g}.txt"),
                          "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in targets
    ]  # fmt: skip


def naive_loop(settings: Settings, rate: float, seconds: float, base: int) -> list[float]:
    """Baseline: one call after another through the SDK, sleeping 1/rate between them."""
    client = rest_client(settings)
    stamps, start = [], time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        stamps.append(time.time())
        client.calls.create(to=f"+1212{3_000_000 + base + i:07d}", from_="+15005550006",
                            twiml="<Response><Hangup/></Response>")  # fmt: skip
        i += 1
        time.sleep(1 / rate)
    return stamps


class Windows(NamedTuple):
    """Calls per second overall and over WINDOW s windows; a window's start is in seconds
    after the first call."""

    overall: float
    busiest: float
    busiest_at: float
    quietest: float
    quietest_at: float


def windows(stamps: list[float]) -> Windows:
    """The run's pace, overall and in its busiest and quietest WINDOW s windows.

    A window's count only changes when its start or end passes a call, so the busiest
    window is one starting at a call ([t_i, t_i + W)) and the quietest one starting just
    after a call ((t_i, t_i + W)); only windows that end by the last call count.
    """
    stamps = sorted(stamps)
    if len(stamps) < 2:
        return Windows(0.0, 0.0, 0.0, 0.0, 0.0)
    overall = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    if stamps[-1] - stamps[0] < WINDOW:
        return Windows(overall, overall, 0.0, overall, 0.0)
    ends = [bisect_left(stamps, t + WINDOW) for t in stamps]  # first call at or after t + W
    starts = [bisect_right(stamps, t) for t in stamps]  # first call after t
    inside = [i for i, t in enumerate(stamps) if t + WINDOW <= stamps[-1]]
    busiest = max(inside, key=lambda i: ends[i] - i)
    quietest = min(inside, key=lambda i: ends[i] - starts[i])
    return Windows(
        overall, (ends[busiest] - busiest) / WINDOW, stamps[busiest] - stamps[0],
        (ends[quietest] - starts[quietest]) / WINDOW, stamps[quietest] - stamps[0],
    )  # fmt: skip


def duplicates(calls: list[dict]) -> tuple[int, int]:
    """(extra calls to a member within one attempt, members called): the answer URL names the
    call row and its attempt (…/calls/ROW?a=N), so a retry after no answer is not a duplicate
    but a second call for the same row and attempt, or to the same phone and attempt, is."""
    per_attempt: Counter = Counter()
    for call in calls:
        url = urlsplit(call["sandbox"]["url"] or "")
        attempt = parse_qs(url.query).get("a", ["?"])[0]
        per_attempt[(call["to"], attempt)] += 1
    extra = sum(n - 1 for n in per_attempt.values())
    return extra, len({to for to, _ in per_attempt})


def campaign_run(
    sessions, settings: Settings, client: redis.Redis, sandbox: str, drain_limit: float,
    seconds: float | None,
) -> dict:  # fmt: skip
    """Launch the campaign; with `seconds`, pause it that long after launch (the calls
    placed by then are the measured ones); then wait for the placed calls to end."""
    with session_scope(sessions) as session:
        campaign = create_campaign(session, {
            "name": f"bench {time.time()}", "kind": "volunteer", "channel": "voice",
            "message": SCRIPT, "translations": {"es": SCRIPT_ES},
            "voice": {"menu": {"1": "volunteer"}, "voicemail": VOICEMAIL},
        }, ORG)  # fmt: skip
        campaign_id = campaign.id
    start = time.perf_counter()
    with session_scope(sessions) as session:  # what POST .../launch does; a worker snapshots
        begin_launch(session, session.get_one(Campaign, campaign_id), utcnow())
    enqueue.launch(client, campaign_id)
    placing = (CallStatus.PLACING, *CALL_WAITING)
    placed_at = paused_at = None
    while True:
        elapsed = time.perf_counter() - start
        with session_scope(sessions) as session:
            campaign = session.get_one(Campaign, campaign_id)
            status, snapshotted = campaign.status, campaign.snapshotted_at
            if seconds and paused_at is None and elapsed > seconds:
                set_paused(session, campaign, True)
                paused_at = time.time()
            if placed_at is None and snapshotted is not None:
                state = (CallStatus.PLACING,) if paused_at else placing
                left = session.scalar(select(func.count()).where(
                    Call.campaign_id == campaign_id, Call.status.in_(state)))  # fmt: skip
                if not left:
                    placed_at = elapsed
            live = session.scalar(select(func.count()).where(
                Call.campaign_id == campaign_id, Call.status.in_(CALL_LIVE[1:])))  # fmt: skip
        if status == CampaignStatus.COMPLETED or (paused_at and placed_at and not live):
            break
        if placed_at is not None and elapsed > placed_at + drain_limit:
            break  # the web app is behind on callbacks: count what has ended so far
        if elapsed > 3600:
            raise RuntimeError(f"campaign {campaign_id} still {status} after an hour")
        time.sleep(0.5)
    with session_scope(sessions) as session:
        ended = session.scalar(select(func.count()).where(
            Call.campaign_id == campaign_id, Call.status.in_(CALL_ENDED)))  # fmt: skip
        queued = launch_state(session.get_one(Campaign, campaign_id))["queued"]
    calls = requests.get(f"{sandbox}/sandbox/calls", timeout=60).json()["calls"]
    return {"queued": queued, "placed_in": placed_at, "done_in": time.perf_counter() - start,
            "ended": ended, "paused_at": paused_at,
            "stamps": [c["sandbox"]["created"] for c in calls], "calls": calls}  # fmt: skip


def attempt_of(call: dict) -> str:
    return parse_qs(urlsplit(call["sandbox"]["url"] or "").query).get("a", ["?"])[0]


def pacing_lines(rate: float, label: str, stamps: list[float]) -> list[str]:
    w = windows(stamps)
    held = "held" if w.busiest <= rate and w.quietest >= 0.95 * rate else "NOT held"
    return [
        f"  {label:<32}: {w.overall:8.2f} calls/s overall ({w.overall / rate:.1%} of rate); "
        f"within 5% and never above: {held}",
        f"  {'':<32}  10 s windows busiest {w.busiest:.2f} ({w.busiest / rate:.1%}) from "
        f"+{w.busiest_at:.1f} s, quietest {w.quietest:.2f} ({w.quietest / rate:.1%}) from "
        f"+{w.quietest_at:.1f} s",
    ]


def quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    v = sorted(values)
    q = [v[min(len(v) - 1, int(p * len(v)))] * 1000 for p in (0.5, 0.9, 0.99)]
    return f"median {q[0]:.1f} ms, p90 {q[1]:.1f} ms, p99 {q[2]:.1f} ms, max {v[-1] * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 200])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--drain-limit",
        type=float,
        default=300,
        help="seconds to wait for the last calls' callbacks after placing",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="pause the campaign this long after launch and measure the calls placed by then "
        "(10,000 calls at 10/s take 1,000 s)",
    )
    parser.add_argument(
        "--carrier",
        choices=["played", "light"],
        default="played",
        help="light: the sandbox answers each create but plays no call (the pace alone)",
    )
    args = parser.parse_args()

    default_db = "postgresql://postgres@127.0.0.1:5432/textbank_bench_voice"
    engine = scratch_database(os.environ.get("BENCH_DATABASE_URL") or default_db)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        import_members(session, member_csv(args.members, seed=11, fictional=False))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    client = redis.Redis.from_url(redis_url)
    logs = Path(tempfile.mkdtemp(prefix="textbank-bench-voice-"))
    print(f"{args.members:,} members in {engine.url.database}; {args.workers} worker processes; "
          f"{args.carrier} carrier; "
          f"gunicorn -w 2 --threads 4; {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; logs in {logs}")  # fmt: skip
    for rate in args.rates:
        client.flushdb()
        sandbox, url = start_sandbox(play_calls=args.carrier == "played")
        port = free_port()
        env = {
            **os.environ, "TEXTBANK_ENV": "test",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "REDIS_URL": redis_url, "TWILIO_API_URL": url,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "TEXTBANK_SEND_WINDOW": "00:00-24:00",
            "TEXTBANK_CALL_RATE": str(rate), "TEXTBANK_CALL_CONCURRENCY": "10000",
            "TEXTBANK_ORG_NAME": ORG, "TEXTBANK_INSTANCE_PATH": str(logs),
        }  # fmt: skip
        settings = Settings.from_env(env, str(logs))
        web = start_web(env, port, logs / f"web-{rate:g}.log")
        (logs / "sent").mkdir(exist_ok=True)
        for old in (logs / "sent").glob("*.tsv"):
            old.unlink()
        workers = start_workers(args.workers, env, logs)
        try:
            baseline = windows(naive_loop(settings, rate, WINDOW + 2, int(rate * 1000)))
            requests.post(f"{url}/sandbox/reset", timeout=5)
            roots = {"workers": [w.pid for w in workers], "web": web.pid, "sandbox": sandbox.pid}
            spies = profile(roots, logs, rate)
            with CpuMeter(roots, own="launch") as cpu:
                run = campaign_run(sessions, settings, client, url, args.drain_limit,
                                   args.seconds)  # fmt: skip
            for spy in spies:
                spy.send_signal(signal.SIGINT)  # py-spy writes its profile and quits
            for spy in spies:
                spy.wait(timeout=60)
        finally:
            stop([*workers, web, sandbox])
        calls = len(run["stamps"])
        extra, members_called = duplicates(run["calls"])
        missing = run["queued"] - members_called
        sent = sent_stamps(logs / "sent")
        lags = [c["sandbox"]["created"] - sent[(c["to"], attempt_of(c))][0]
                for c in run["calls"] if (c["to"], attempt_of(c)) in sent]  # fmt: skip
        waits = [answered - at for at, answered in sent.values()]
        print(f"\n{rate:g} calls/s configured (load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")  # fmt: skip
        print(
            f"  baseline  naive paced SDK loop  : {baseline.overall:8.2f} calls/s overall, "
            f"10 s windows {baseline.quietest:.2f}-{baseline.busiest:.2f} "
            f"({baseline.overall / rate:.1%} of rate)"
        )
        for line in (
            *pacing_lines(rate, "textbank  sent by the workers", [at for at, _ in sent.values()]),
            *pacing_lines(rate, "textbank  arrived at the carrier", run["stamps"]),
        ):
            print(line)
        print(f"  arrival - sent                  : {quantiles(lags)} ({len(lags):,} matched)")
        print(f"  create answered - sent          : {quantiles(waits)}")
        measured = f"launch + {args.seconds:g} s, then paused" if args.seconds else "whole campaign"
        print(f"  calls placed                    : {calls:,} ({measured}); placing over "
              f"{run['placed_in']:.1f} s after launch")  # fmt: skip
        if args.carrier == "played":
            print(
                f"  textbank  calls ended           : {run['ended']:,} of {calls:,} placed, "
                f"{run['done_in']:.1f} s after launch"
            )
        if os.environ.get("BENCH_VOICE_TIMELINE"):
            t0 = min(run["stamps"])
            per = Counter(int(t - t0) for t in run["stamps"])
            print("  arrived per second:", [per.get(i, 0) for i in range(max(per) + 1)])
            per = Counter(int(at - t0) for at, _ in sent.values())
            print("  sent per second   :", [per.get(i, 0) for i in range(max(per) + 1)])
        if args.seconds:
            print(
                f"  textbank  duplicates            : {extra} (members called: {members_called:,})"
            )
        else:
            print(f"  textbank  duplicates / missing  : {extra} / {missing}")
        if cpu.used and calls:
            # The web app's share is per call that ended (its callbacks all taken); the rest
            # per call placed (and the web's too when no call is played).
            for name in ("workers", "web", "sandbox", "PostgreSQL", "Redis"):
                played = name == "web" and args.carrier == "played"
                n = max(1, run["ended"]) if played else calls
                print(f"  CPU per call  {name:<18}: {cpu.used.get(name, 0) / n * 1000:7.2f} ms")
            print(f"  cores busy over the run         : {sum(cpu.used.values()) / cpu.wall:.2f}")


if __name__ == "__main__":
    main()
