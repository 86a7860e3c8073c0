"""Launch as a job: the snapshot resumes after a crash, tolerates a second run, shows progress."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from blast_helpers import run_queue, seed, texts_by_phone
from sqlalchemy import select

import workers.jobs
from textbank import enqueue
from textbank.blasts.launch import SNAPSHOT_CHUNK, begin_launch, launch_state, snapshot_audience
from textbank.blasts.sweeper import sweep
from textbank.compliance.quiet_hours import SendWindow
from textbank.db import session_scope
from textbank.enqueue import QueueName, launch_job_id, queue
from textbank.models import Campaign, CampaignStatus, OutboundMessage, utcnow
from textbank.twilio.clients import rest_client

MEMBERS = 45
ALWAYS = SendWindow(0, 1440)  # every member in their window, whatever the hour of the test


def _members(n: int) -> list[tuple]:
    return [(f"M{i}", f"+1617201{i:04d}", "1199", "en") for i in range(n)]


def _campaign(sessions) -> int:
    with session_scope(sessions) as session:
        campaign = Campaign(name="c", kind="gotv", message="Vote, {first_name}!",
                            translations={}, audience={}, keywords={}, replies={})  # fmt: skip
        session.add(campaign)
        session.flush()
        begin_launch(session, campaign, utcnow())
        return campaign.id


def _rows(sessions, campaign_id: int) -> Counter:
    with session_scope(sessions) as session:
        return Counter(
            session.scalars(
                select(OutboundMessage.member_id).where(OutboundMessage.campaign_id == campaign_id)
            )
        )


class Killed(Exception):
    pass


def test_a_snapshot_killed_part_way_is_finished_by_running_it_again(sessions, settings):
    seed(sessions, _members(MEMBERS))
    cid = _campaign(sessions)
    chunks: list[list[int]] = []

    def dies_on_the_third_chunk(campaign_id, buckets):
        chunks.append(buckets)
        if len(chunks) == 3:
            raise Killed

    with pytest.raises(Killed):
        snapshot_audience(sessions, cid, ALWAYS, dies_on_the_third_chunk, chunk=7)
    with session_scope(sessions) as session:
        part = launch_state(session.get(Campaign, cid))
    assert part["status"] == "launching" and not part["snapshot"]["finished"]
    assert part["snapshot"] == {"done": 21, "total": MEMBERS, "finished": False}

    result = snapshot_audience(sessions, cid, ALWAYS, lambda *a: None, chunk=7)
    rows = _rows(sessions, cid)
    assert max(rows.values()) == 1
    assert len(rows) == result.queued == MEMBERS
    assert result.skipped == {"opted_out": 0, "invalid": 0, "duplicate": 0}
    with session_scope(sessions) as session:
        state = launch_state(session.get(Campaign, cid))
    assert state["status"] == CampaignStatus.SENDING
    assert state["snapshot"] == {"done": MEMBERS, "total": MEMBERS, "finished": True}
    again = snapshot_audience(sessions, cid, ALWAYS, lambda *a: None)
    assert again.already_launched and again.queued == result.queued


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_snapshots_at_once_take_turns(sessions, settings):
    seed(sessions, _members(MEMBERS))
    cid = _campaign(sessions)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            snapshot_audience(sessions, cid, ALWAYS, lambda *a: None, chunk=3)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    rows = _rows(sessions, cid)
    assert len(rows) == MEMBERS and max(rows.values()) == 1
    with session_scope(sessions) as session:
        campaign = session.get(Campaign, cid)
        assert campaign.skipped_duplicate == 0
        assert campaign.snapshot_done == MEMBERS


def test_first_sends_are_queued_while_the_snapshot_goes_on(sessions, settings, redis_client):
    seed(sessions, _members(MEMBERS))
    cid = _campaign(sessions)
    seen = []

    def fanout(campaign_id, buckets):
        with session_scope(sessions) as session:
            seen.append(session.get(Campaign, campaign_id).status)
        enqueue.send_buckets(redis_client, campaign_id, buckets)

    snapshot_audience(sessions, cid, ALWAYS, fanout, chunk=10)
    assert seen[0] == CampaignStatus.LAUNCHING  # the first bucket was queued mid-snapshot
    assert queue(QueueName.SEND, redis_client).job_ids == [enqueue.bucket_job_id(cid, 0)]


def test_the_sweeper_requeues_a_launch_whose_job_was_lost(live, auth, redis_client):
    seed(live.sessions, _members(MEMBERS))
    response = live.client.post("/api/v1/campaigns", headers=auth, json={
        "name": "Lost", "kind": "gotv", "message": "Vote, {first_name}!"})  # fmt: skip
    cid = response.get_json()["id"]
    assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    launches = queue(QueueName.LAUNCH, redis_client)
    assert launches.job_ids == [launch_job_id(cid)]
    launches.empty()  # Redis lost it
    report = sweep(
        live.sessions, rest_client(live.settings),
        lambda campaign_id, buckets: 0, utcnow(), timedelta(seconds=60), 1000,
        relaunch=lambda campaign_id: enqueue.launch(redis_client, campaign_id),
    )  # fmt: skip
    assert report.relaunched == [cid]
    assert launches.job_ids == [launch_job_id(cid)]
    # Queued already: the next sweep leaves it alone.
    assert enqueue.launch(redis_client, cid) is False
    assert texts_by_phone(live.sandbox) == {}


def test_a_lone_worker_sends_first_texts_before_a_long_snapshot_ends(live, auth, monkeypatch):
    """One worker: the snapshot goes in slices queued behind the sends they released."""
    members = SNAPSHOT_CHUNK + 100  # two chunks
    seed(live.sessions, [(f"M{i}", f"+1617{2000000 + i:07d}", "1199", "en")
                         for i in range(members)])  # fmt: skip
    monkeypatch.setattr(workers.jobs, "LONE_WORKER_SLICE", 0.0)  # one chunk a slice
    progress_at_send: list[int] = []
    send_bucket = workers.jobs.send_bucket

    def watched_send_bucket(campaign_id: int, bucket: int) -> dict:
        with session_scope(live.sessions) as session:
            progress_at_send.append(session.get(Campaign, campaign_id).snapshot_done or 0)
        return send_bucket(campaign_id, bucket)

    monkeypatch.setattr(workers.jobs, "send_bucket", watched_send_bucket)
    response = live.client.post("/api/v1/campaigns", headers=auth, json={
        "name": "Long", "kind": "gotv", "message": "Vote, {first_name}!"})  # fmt: skip
    cid = response.get_json()["id"]
    assert live.client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    run_queue(live.settings)  # one worker, in this process

    assert progress_at_send[0] == SNAPSHOT_CHUNK < members  # texts left mid-snapshot
    texts = texts_by_phone(live.sandbox)
    assert len(texts) == members and all(len(t) == 1 for t in texts.values())
    with session_scope(live.sessions) as session:
        campaign = session.get(Campaign, cid)
        assert campaign.status == CampaignStatus.COMPLETED
        assert launch_state(campaign)["snapshot"] == {
            "done": members, "total": members, "finished": True}  # fmt: skip


def test_a_snapshot_out_of_time_stops_after_a_chunk_and_goes_on_where_it_stopped(sessions):
    seed(sessions, _members(MEMBERS))
    cid = _campaign(sessions)
    ticks = iter(range(1000))
    first = snapshot_audience(sessions, cid, ALWAYS, lambda *a: None, chunk=10, budget=1.5,
                              clock=lambda: float(next(ticks)))  # fmt: skip
    assert not first.finished and first.queued == 20  # the chunk that passed 1.5 s ends it
    rest = snapshot_audience(sessions, cid, ALWAYS, lambda *a: None, chunk=10)
    assert rest.finished and rest.queued == MEMBERS
    rows = _rows(sessions, cid)
    assert len(rows) == MEMBERS and max(rows.values()) == 1
