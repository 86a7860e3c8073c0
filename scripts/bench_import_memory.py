"""Peak memory of a 200 MB member import, CLI and API, beside a plain csv read of the file.

Usage: python scripts/bench_import_memory.py [--mb 200] [--code PATH] [--only cli,api]
                                            [--seconds 480]

Writes a member CSV of about --mb megabytes, then runs each step in a child process of its
own and takes that process's peak resident memory (ru_maxrss from wait4):
  baseline  python reading the file with the csv module, row by row, doing nothing (the floor)
  cli       `textbank members import FILE`
  api POST  the app taking POST /api/v1/members/import with the file as its body (202)
  api job   `textbank worker --burst`, which imports the spooled upload
on PostgreSQL, the members table emptied before each import. Peaks are printed in MB and as a
ratio to the baseline's, with rows/s. --code is the checkout whose textbank the children
import (default: this one): the before figure comes from a worktree of the commit before
(`git worktree add --detach /tmp/old COMMIT`, then --code /tmp/old); the script itself
needs nothing from it. BENCH_DATABASE_URL (default textbank_bench_import on 127.0.0.1, wiped)
and BENCH_REDIS_URL (default redis://127.0.0.1:6379/13, flushed) pick the services.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/textbank_bench_import"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
HEADER = "first_name,last_name,phone,email,worksite,local,language,tags,zip_code,external_id\n"
FIRST = ["Ana", "Luis", "José", "Mei", "Fatima", "John", "Keisha", "Dmitri", "Nguyen", "Zoë"]
LAST = ["Rivera", "Chen", "Pérez", "Okafor", "Smith", "O'Brien", "Kowalski", "Haddad", "Li"]
SITES = ["Boston Medical Center, Ward 4", "Logan Airport Terminal C", "Mass General", "MIT"]

BASELINE = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = sum(1 for _ in csv.reader(f))
print(rows)
"""
MIGRATE = """
import sys
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from textbank import schema
from textbank.db import make_engine
url = make_url(sys.argv[1])
admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}):
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("DROP SCHEMA public CASCADE"))
    conn.execute(text("CREATE SCHEMA public"))
schema.upgrade(engine)
"""
WIPE = """
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("TRUNCATE members, locals, uploads RESTART IDENTITY CASCADE"))
"""
COUNT = """
import sys
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).connect() as conn:
    print(conn.scalar(text("SELECT count(*) FROM members")))
"""
# The app in this process; a manager's API token; the file posted as a streamed body.
POST = """
import os, sys
from textbank import create_app
from textbank.accounts import create_token, create_user
from textbank.config import Settings
from textbank.db import session_scope
settings = Settings.from_env(dict(os.environ), instance_path=sys.argv[2])
app = create_app(settings)
with session_scope(app.extensions["textbank.sessions"]) as session:
    create_user(session, "bench@example.org", "manager", "correct horse battery")
    token = create_token(session, "bench@example.org")
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "rb") as body:
    answer = app.test_client().post(
        "/api/v1/members/import", input_stream=body, content_length=size,
        headers={"Authorization": f"Bearer {token}"}, content_type="text/csv")
print(answer.status_code, answer.get_data(as_text=True).strip()[:200])
"""
CLI = "import sys; from textbank.cli import main; sys.argv[0] = 'textbank'; main()"


def ascii_name(name: str) -> str:
    return name.lower().encode("ascii", "ignore").decode()


def write_file(path: Path, megabytes: int) -> int:
    """A member list of realistic rows, about `megabytes` MB; returns its data rows."""
    rng = random.Random(2026)
    target, rows = megabytes * 1_000_000, 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        written = len(HEADER)
        while written < target:
            batch = []
            for _ in range(10_000):
                i = rows
                first, last = rng.choice(FIRST), rng.choice(LAST)
                batch.append(
                    f"{first},{last},+1617{2_000_000 + i:07d},{ascii_name(first)}.{i}@example.org,"
                    f'"{rng.choice(SITES)}",{rng.choice(("1199", "26", "32BJ"))},'
                    f'{rng.choice(("en", "es", "pt"))},"steward; gotv {i % 7}",'
                    f"02{rng.randrange(100, 999)},VAN{1_000_000 + i}\n"
                )
                rows += 1
            text = "".join(batch)
            f.write(text)
            written += len(text.encode())
    return rows


def child(
    label: str, argv: list[str], env: dict[str, str], timeout: float = 480
) -> tuple[float, float, str]:
    """Run a child process; its peak RSS in MB, wall seconds and output.

    Past `timeout` seconds it is stopped and its peak so far reported, marked "stopped".
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                print(f"  {label}: stopped after {timeout:.0f} s (--seconds)")
                return usage.ru_maxrss / 1024, -time.perf_counter() + start, "stopped"
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{text[-3000:]}")
    return usage.ru_maxrss / 1024, wall, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--code", default=str(HERE), help="checkout whose textbank to measure")
    parser.add_argument("--only", default="cli,api", help="which imports: cli, api or both")
    parser.add_argument("--seconds", type=float, default=480, help="stop an import after this")
    args = parser.parse_args()
    code = str(Path(args.code).resolve())
    db = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    env = {
        **os.environ,
        "PYTHONPATH": code,
        "DATABASE_URL": db,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        "TEXTBANK_ENV": "test",
        "PYTHONWARNINGS": "ignore",
    }
    py = sys.executable
    revision = subprocess.run(
        ["git", "-C", code, "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="textbank-bench-import-") as tmp:
        path = Path(tmp) / "members.csv"
        started = time.perf_counter()
        rows = write_file(path, args.mb)
        size = path.stat().st_size
        print(f"code: {code} ({revision[:70]})")
        print(f"file: {rows:,} rows, {size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.2f}")  # fmt: skip
        child("migrate", [py, "-c", MIGRATE, db], env)
        subprocess.run(["redis-cli", "-u", env["REDIS_URL"], "FLUSHDB"], capture_output=True)
        base_mb, base_s, _ = child("baseline", [py, "-c", BASELINE, str(path)], env)
        results = [("baseline  csv.reader, row by row", base_mb, base_s, rows)]
        if "cli" in args.only:
            child("wipe", [py, "-c", WIPE, db], env)
            mb, s, _ = child(
                "cli", [py, "-c", CLI, "members", "import", str(path)], env, args.seconds
            )
            stored = int(child("count", [py, "-c", COUNT, db], env)[2].split()[-1])
            results.append(("textbank  CLI import", mb, s, stored))
        if "api" in args.only:
            child("wipe", [py, "-c", WIPE, db], env)
            post_mb, post_s, said = child("post", [py, "-c", POST, str(path), tmp], env)
            if not said.strip().splitlines()[-1].startswith("202"):
                raise SystemExit(f"the API did not queue the import: {said[-500:]}")
            job_mb, job_s, _ = child(
                "worker", [py, "-c", CLI, "worker", "--burst"], env, args.seconds
            )
            stored = int(child("count", [py, "-c", COUNT, db], env)[2].split()[-1])
            results.append(("textbank  API POST (body spooled)", post_mb, post_s, 0))
            results.append(("textbank  API job (worker --burst)", job_mb, job_s, stored))
            both = post_s + job_s if job_s > 0 else job_s - post_s
            results.append(("textbank  API POST + job", max(post_mb, job_mb), both, stored))
    print(f"{'':<36} {'peak RSS':>9} {'x floor':>8} {'wall':>7} {'rows/s':>9}")
    for label, mb, s, stored in results:
        # A negative time is an import stopped at --seconds: its peak so far, no rows/s.
        speed = f"{stored / s:>9,.0f}" if stored and s > 0 else f"{'':>9}"
        wall = f"{s:>6.1f}s" if s > 0 else f"{-s:>5.0f}s*"
        print(f"{label:<36} {mb:>6.0f} MB {mb / base_mb:>7.2f}x {wall} {speed}")
    if any(s < 0 for _, _, s, _ in results):
        print("* stopped at --seconds before the end: the peak so far, nothing committed")
    for label, _, _, stored in results[1:]:
        if stored and stored != rows:
            print(f"WARNING: {label} stored {stored:,} members of {rows:,} rows")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
