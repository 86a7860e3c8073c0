"""The opt-out CSV export on a long ledger: streamed in batches beside the whole file built
in memory (what the console did before), in the same process.

Usage: python scripts/bench_optout_export.py [--events 500000]

Fills a scratch PostgreSQL database (BENCH_EXPORT_DATABASE_URL, default textbank_bench_export
on 127.0.0.1: created or wiped; not BENCH_DATABASE_URL, which holds bench_report's data set)
with --events opt-out events, then downloads /opt-outs.csv as a signed-in manager and prints,
for each way: the time to the first byte, the time to the last, and the peak Python memory
while it ran (tracemalloc, in a second run so it does not slow the
timed one). Both must produce the same bytes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import scratch_database
from sqlalchemy import text

from textbank import create_app, csvexport
from textbank.accounts import create_user
from textbank.compliance.optouts import ledger
from textbank.config import Settings
from textbank.db import make_session_factory, session_scope
from textbank.web.optouts import EXPORT_FIELDS

URL = "postgresql://postgres@127.0.0.1:5432/textbank_bench_export"
FILL = """INSERT INTO opt_out_events (phone, member_id, kind, source, text, reason, created_at)
    SELECT '+1617' || lpad(g::text, 7, '0'), NULL, CASE WHEN g % 10 = 0 THEN 'opt_in'
      ELSE 'opt_out' END, 'suppression_list', CASE WHEN g % 3 = 0 THEN 'STOP' END,
      'partner list, row ' || g, timestamptz '2026-01-01' + g * interval '1 s'
    FROM generate_series(1, :n) g"""


def measure(download) -> tuple[float, float, float, bytes]:
    """(ms to the first byte, ms to the last, peak MB while downloading, the bytes)."""
    start = time.perf_counter()
    chunks = download()
    first = next(chunks)
    first_ms = (time.perf_counter() - start) * 1000
    body = first + b"".join(chunks)
    total_ms = (time.perf_counter() - start) * 1000
    tracemalloc.start()
    for _ in download():
        pass
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return first_ms, total_ms, peak, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args()
    url = os.environ.get("BENCH_EXPORT_DATABASE_URL") or URL
    engine = scratch_database(url)
    with engine.begin() as conn:
        conn.execute(text(FILL), {"n": args.events})
        conn.exec_driver_sql("ANALYZE opt_out_events")
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        create_user(session, "bench@example.org", "manager", "a long bench password")
    settings = Settings.from_env(
        {"TEXTBANK_ENV": "test", "DATABASE_URL": str(engine.url.render_as_string(False)),
         "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")},
        instance_path="/tmp/textbank-bench-export",
    )  # fmt: skip
    app = create_app(settings)
    client = app.test_client()
    with session_scope(sessions) as session:
        user_id = session.scalar(text("SELECT id FROM users"))
    with client.session_transaction() as cookie:
        cookie["user_id"] = user_id

    def streamed():
        response = client.get("/opt-outs.csv", buffered=False)
        assert response.status_code == 200, response.status_code
        return iter(response.response)

    def in_memory():  # the console's export before: every event, then the whole file
        with session_scope(sessions) as session:
            yield csvexport.to_csv(EXPORT_FIELDS, ledger(session)).encode()

    stream = measure(lambda: (c if isinstance(c, bytes) else c.encode() for c in streamed()))
    whole = measure(in_memory)
    load = os.getloadavg()[0]
    print(f"{args.events:,} opt-out events; {len(stream[3]) / 1e6:.1f} MB of CSV; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    for label, (first, total, peak, _) in (("streamed (console now)", stream),
                                           ("built in memory (before)", whole)):  # fmt: skip
        print(f"  {label:<26}: first byte {first:8.1f} ms, last {total:8.1f} ms, "
              f"peak Python memory {peak:7.1f} MB")  # fmt: skip
    print(
        f"  streamed / in memory: time {stream[1] / whole[1]:.2f}x, "
        f"peak memory {stream[2] / whole[2]:.3f}x; same bytes: {stream[3] == whole[3]}"
    )
    sys.exit(0 if stream[3] == whole[3] else 1)


if __name__ == "__main__":
    main()
