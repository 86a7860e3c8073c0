"""Member search by name or phone on bench_report.py's 1,000,000 members, beside plain queries.

Usage: python scripts/bench_members.py [--members 1000000] [--runs 15]

Builds bench_report.py's locals and members (the same names, phones and locals; the message
tables are not needed to search), then times textbank's search (what /members runs) beside
the query you would write without its indexes: ILIKE on both names, LIKE '%digits' on the
phone. Median of --runs after a warm-up. BENCH_DATABASE_URL picks the database (default:
textbank_bench_members on 127.0.0.1, created/wiped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import BUILD, LOCALS, SETUP, sql
from benchlib import scratch_database, stopwatch
from sqlalchemy import text

from textbank.db import make_engine, make_session_factory, session_scope
from textbank.members.search import PAGE, SearchFilter, search_members

TARGET_MS = 100.0
URL = "postgresql://postgres@127.0.0.1:5432/textbank_bench_members"
PLAIN_NAME = """SELECT id, first_name, last_name, phone FROM members
  WHERE first_name ILIKE :a OR last_name ILIKE :a ORDER BY last_name, first_name, id LIMIT :n"""
PLAIN_FULL = """SELECT id, first_name, last_name, phone FROM members
  WHERE first_name ILIKE :a AND last_name ILIKE :b ORDER BY last_name, first_name, id LIMIT :n"""
PLAIN_PHONE = """SELECT id, first_name, last_name, phone FROM members
  WHERE phone LIKE :tail ORDER BY id LIMIT :n"""


def build(engine, members: int, steps: dict) -> None:
    params = {"members": members, "locals": LOCALS, "campaigns": 20}
    with engine.connect() as conn:
        for statement in SETUP:
            conn.exec_driver_sql(statement)
        for name in ("locals", "members"):
            with stopwatch(steps, name):
                conn.execute(sql(BUILD[name]), params)
                conn.commit()
        conn.exec_driver_sql("DROP FUNCTION bench_h, bench_launch")
        conn.commit()
    autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as conn, stopwatch(steps, "vacuum"):
        conn.exec_driver_sql("VACUUM (ANALYZE) members")


def _has_members(engine, members: int) -> bool:
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM members")) == members
    except Exception:  # no database or no table yet: build it
        return False


def timed(sessions, fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs + 1):
        start = time.perf_counter()
        with session_scope(sessions) as session:
            result = fn(session)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:]), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--reuse", action="store_true", help="time a previous run's data if it has --members"
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or URL
    engine = make_engine(url)
    steps: dict[str, float] = {"total": 0.0}
    if not (args.reuse and _has_members(engine, args.members)):
        engine.dispose()
        engine = scratch_database(url)
        with stopwatch(steps, "total"):
            build(engine, args.members, steps)
    sessions = make_session_factory(engine)
    n = PAGE + 1

    def plain(statement: str, **params):
        return lambda s: s.execute(text(statement), {**params, "n": n}).all()

    def ours(q: str):
        return lambda s: [m.id for m in search_members(s, SearchFilter(q=q)).members]

    cases = [
        ("name, one word ('riv')", plain(PLAIN_NAME, a="riv%"), ours("riv")),
        ("name, one word ('Chen')", plain(PLAIN_NAME, a="chen%"), ours("Chen")),
        ("first and last ('ana riv')", plain(PLAIN_FULL, a="ana%", b="riv%"), ours("ana riv")),
        ("phone, last 4 digits ('0101')", plain(PLAIN_PHONE, tail="%0101"), ours("0101")),
        ("phone, whole number", plain(PLAIN_PHONE, tail="%6170123456"), ours("617-012-3456")),
    ]
    print(f"data set: {args.members:,} members in {LOCALS} locals (bench_report.py's); "
          f"built in {steps['total']:.1f} s; database: {engine.url.database}")  # fmt: skip
    print(f"load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    worst = 0.0
    for label, base_fn, our_fn in cases:
        base_ms, base = timed(sessions, base_fn, args.runs)
        our_ms, got = timed(sessions, our_fn, args.runs)
        worst = max(worst, our_ms)
        print(
            f"{label:<32}: textbank {our_ms:7.1f} ms ({len(got)} shown) | plain query "
            f"{base_ms:8.1f} ms ({len(base)} rows) | {our_ms / base_ms:.3f}x the plain"
        )
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"target: every member search under {TARGET_MS:.0f} ms on {args.members:,} members "
          f"-> {verdict} (slowest {worst:.1f} ms)")  # fmt: skip
    sys.exit(0 if worst < TARGET_MS else 1)


if __name__ == "__main__":
    main()
