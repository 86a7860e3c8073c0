"""Voice campaigns survive faults: a killed worker, a restarted Redis, a flaky carrier.

Real worker processes, real PostgreSQL and Redis; the sandbox plays Twilio and every member
answers and presses 1. Each test checks what a member would: exactly one call each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
from blast_helpers import seed
from sqlalchemy import func, select
from test_blast_faults import _kill, _redis_server, _wait
from voice_helpers import voice_campaign

from textbank import enqueue
from textbank.blasts.launch import begin_launch
from textbank.db import session_scope
from textbank.models import Call, Campaign, utcnow
from textbank.twilio.codes import CALL_UNFINISHED

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MEMBERS = 400


def _members(n: int) -> list[tuple]:
    return [(f"M{i}", f"+1617301{i:04d}", "1199", "en") for i in range(n)]


def _campaign(live, auth) -> int:
    response = live.client.post("/api/v1/campaigns", headers=auth, json=voice_campaign())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _worker(live, redis_url: str, tmp_path, concurrency: int = 300) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEXTBANK_ENV": "test",
        "DATABASE_URL": live.settings.database_url,
        "REDIS_URL": redis_url,
        "TWILIO_API_URL": live.sandbox.url,
        "PUBLIC_BASE_URL": live.url,
        "TEXTBANK_SEND_WINDOW": "00:00-24:00",
        "TEXTBANK_CALL_RATE": "60",
        "TEXTBANK_CALL_CONCURRENCY": str(concurrency),
        "TEXTBANK_SEND_QUARANTINE": "3",
        "TEXTBANK_CLAIM_TTL": "15",
        "TEXTBANK_INSTANCE_PATH": str(tmp_path / "worker-instance"),
    }
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "textbank.cli", "worker"], env=env,
                            stdout=log, stderr=log)  # fmt: skip


def _calls(live) -> Counter:
    return Counter(c.to for c in live.sandbox.state.all_calls())


def _unfinished(live, campaign_id: int) -> int:
    """Calls not yet ended; -1 while the launch job has not finished its snapshot."""
    with session_scope(live.sessions) as session:
        if session.get_one(Campaign, campaign_id).snapshotted_at is None:
            return -1
        if os.environ.get("DEBUG_CALLS"):
            print(
                session.execute(
                    select(Call.status, Call.error_message, func.count())
                    .where(Call.campaign_id == campaign_id)
                    .group_by(Call.status, Call.error_message)
                ).all(),
                live.sandbox.state.requests(),
                flush=True,
            )
        return session.scalar(
            select(func.count()).where(
                Call.campaign_id == campaign_id, Call.status.in_(CALL_UNFINISHED)
            )
        )


def _assert_exactly_once(live, campaign_id: int) -> None:
    calls = _calls(live)
    assert len(calls) == MEMBERS, f"{MEMBERS - len(calls)} members never called"
    assert max(calls.values()) == 1, [p for p, n in calls.items() if n > 1][:5]
    with session_scope(live.sessions) as session:
        rows = session.execute(
            select(Call.twilio_sid, Call.status, Call.placements).where(
                Call.campaign_id == campaign_id)
        ).all()  # fmt: skip
    assert len({r.twilio_sid for r in rows}) == MEMBERS and None not in {r.twilio_sid for r in rows}
    assert {r.status for r in rows} == {"completed"} and {r.placements for r in rows} == {1}


@pytest.fixture
def sandbox():
    """The carrier with fewer callbacks in flight: each holds one of the app's connections,
    and the PostgreSQL server is shared."""
    from textbank.sandbox import SandboxConfig, SandboxServer

    config = SandboxConfig(callback_delay_ms=5, gather_wait_seconds=3, callback_concurrency=12)
    server = SandboxServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def answering(live):
    live.sandbox.configure(call_digits="1", latency_ms=40)
    return live


def test_worker_killed_mid_campaign_then_restarted(answering, auth, tmp_path):
    live = answering
    seed(live.sessions, _members(MEMBERS))
    cid = _campaign(live, auth)
    worker = _worker(live, live.settings.redis_url, tmp_path)
    try:
        assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        _wait(lambda: len(_calls(live)) >= MEMBERS // 3, 60, "a third called", tmp_path)
        _kill(worker)
        assert len(_calls(live)) < MEMBERS
        worker = _worker(live, live.settings.redis_url, tmp_path)
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the campaign to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
    _assert_exactly_once(live, cid)


def test_redis_restarted_mid_campaign(answering, auth, tmp_path):
    from conftest import _free_port

    live = answering
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, tmp_path)
    seed(live.sessions, _members(MEMBERS))
    cid = _campaign(live, auth)
    # The app's callbacks free call slots in the test's own Redis, not this one, so here no
    # slot is ever freed: a cap above the audience keeps it from binding (it is rebuilt from
    # the calls in progress after the restart all the same).
    worker = _worker(live, url, tmp_path, concurrency=2 * MEMBERS)
    try:
        with session_scope(live.sessions) as session:  # the API's launch, on this Redis
            begin_launch(session, session.get(Campaign, cid), utcnow())
        enqueue.launch(redis.Redis.from_url(url), cid)
        _wait(lambda: len(_calls(live)) >= MEMBERS // 3, 60, "a third called", tmp_path)
        server.terminate()  # the queues, the pace and the live-call slots go with it
        server.wait(timeout=10)
        time.sleep(1)
        server = _redis_server(port, tmp_path)
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the campaign to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
        server.terminate()
        server.wait(timeout=10)
    _assert_exactly_once(live, cid)


def test_flaky_carrier_20_percent_errors(answering, auth, tmp_path):
    live = answering
    seed(live.sessions, _members(MEMBERS))
    # Every 500 comes after the carrier made the call: placing it again would call twice.
    live.sandbox.configure(error_500_rate=0.1, error_429_rate=0.1, fault_commits=True,
                           random_seed=7)  # fmt: skip
    cid = _campaign(live, auth)
    worker = _worker(live, live.settings.redis_url, tmp_path)
    try:
        assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
        _wait(lambda: _unfinished(live, cid) == 0, 150, "the campaign to finish", tmp_path)
    finally:
        _kill(worker, signal.SIGTERM)
    requests = live.sandbox.state.requests()
    assert requests["errors_500"] > 10 and requests["errors_429"] > 10
    _assert_exactly_once(live, cid)
    stats = live.client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).get_json()
    assert stats["calls"]["placed"] == MEMBERS and stats["calls"]["pressed"] == {
        "volunteer": MEMBERS
    }
