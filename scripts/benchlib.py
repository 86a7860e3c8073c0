"""Shared helpers for the benchmark scripts: a scratch PostgreSQL database, timing, CPU use."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from textbank import schema
from textbank.config import normalize_database_url
from textbank.db import make_engine

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/textbank_bench"


def scratch_database(url: str | None = None):
    """An engine on an empty, migrated database (created if missing; wiped if present)."""
    url = normalize_database_url(url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(engine)
    return engine


@contextmanager
def stopwatch(results: dict, name: str):
    """Record the wall time of the block under `name`."""
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a Linux process has used so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
            except OSError:
                continue
            out[int(entry)] = (int(rest.split()[1]), head.split("(", 1)[1])
    return out


def process_groups(
    roots: dict[str, int | list[int]], own: str | None = None
) -> dict[str, list[int]]:
    """Each named root process with its descendants, this process alone under `own`, every
    PostgreSQL server process (backends, WAL writer, autovacuum: all the database's work)
    as "PostgreSQL" and the Redis server as "Redis"."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    groups = {}
    for name, root in roots.items():
        tree, todo = [], [root] if isinstance(root, int) else list(root)
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        groups[name] = tree
    if own:
        groups[own] = [os.getpid()]
    for name, comm_prefix in (("PostgreSQL", "postgres"), ("Redis", "redis-server")):
        groups[name] = [pid for pid, (_, comm) in procs.items() if comm.startswith(comm_prefix)]
    return groups


class CpuMeter:
    """CPU seconds each group of processes spends over a block: where a run's time goes.

    On this 2-core box every process competes for the same cores, so CPU per request,
    not wall time, says which part to make cheaper. Linux only (reads /proc); elsewhere
    it reports nothing.
    """

    def __init__(self, roots: dict[str, int | list[int]], own: str | None = None) -> None:
        self.roots, self.own = roots, own
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.available = os.path.isdir("/proc/self")
        if self.available:
            self.groups = process_groups(self.roots, self.own)
            self.start = {pid: _cpu_of(pid) for pids in self.groups.values() for pid in pids}
            self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if not self.available:
            return
        self.wall = time.perf_counter() - self.wall
        # Looked up again: processes born during the block count whole (a database
        # connection opened mid-run is a new backend). One that ended meanwhile is missed.
        for name, pids in process_groups(self.roots, self.own).items():
            seen = set(pids) | set(self.groups.get(name, []))
            self.used[name] = sum(max(0.0, _cpu_of(p) - self.start.get(p, 0.0)) for p in seen)

    def per(self, count: int) -> str:
        """'web 1.10, PostgreSQL 0.52 ms' of CPU per request, and the cores they kept busy."""
        if not self.used or not count:
            return "no CPU figures (no /proc)"
        parts = ", ".join(f"{name} {secs / count * 1000:.2f}" for name, secs in self.used.items())
        busy = sum(self.used.values()) / self.wall
        return f"{parts} ms CPU each ({busy:.2f} cores busy)"
