"""Member import throughput into PostgreSQL, beside the baseline of parsing the file alone.

Usage: python scripts/bench_import.py [--rows 100000]
BENCH_DATABASE_URL picks the database (default: textbank_bench on 127.0.0.1, created/wiped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import scratch_database, stopwatch
from sqlalchemy import func, select

from textbank.db import make_session_factory, session_scope
from textbank.members.demo import member_csv
from textbank.members.importer import (
    ImportResult,
    import_members,
    open_member_table,
    parse_chunks,
)
from textbank.models import Member


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    data = member_csv(args.rows, seed=2026, bad_share=0.02, duplicate_share=0.05, fictional=False)
    engine = scratch_database()
    sessions = make_session_factory(engine)
    times: dict[str, float] = {}

    with stopwatch(times, "parse"):
        table, columns, _ = open_member_table(data, None, None)
        parsed = sum(len(c) for c in parse_chunks(table, columns, ImportResult()))
    with stopwatch(times, "import"), session_scope(sessions) as session:
        first = import_members(session, data)
    with stopwatch(times, "reimport"), session_scope(sessions) as session:
        second = import_members(session, data)
    with session_scope(sessions) as session:
        stored = session.scalar(select(func.count()).select_from(Member))

    rows = args.rows
    print(f"file: {rows:,} rows, {len(data) / 1e6:.1f} MB; database: {engine.url.database}")
    print(
        f"  rejected {len(first.rejected):,}, merged duplicates {first.duplicates:,}, "
        f"created {first.created:,}; members stored {stored:,}"
    )

    def line(label: str, key: str, extra: str = "") -> None:
        print(f"{label:<34}: {times[key]:6.2f} s {rows / times[key]:>9,.0f} rows/s{extra}")

    line("baseline  parse + validate only", "parse")
    line(
        "textbank  import (new members)",
        "import",
        f"  ({times['import'] / times['parse']:.2f}x the parse-only time)",
    )
    line("textbank  re-import (unchanged)", "reimport", f"  (unchanged {second.unchanged:,})")
    target = 15.0
    verdict = "meets" if times["import"] < target else "MISSES"
    print(f"target: {rows:,} rows under {target:.0f} s -> {verdict}")
    assert stored == first.created and parsed >= stored


if __name__ == "__main__":
    main()
