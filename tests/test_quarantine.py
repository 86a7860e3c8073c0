"""Unknown send outcomes: classified once for texts and calls, and quarantined before a resend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from blast_helpers import seed
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from textbank.blasts.sweeper import sweep
from textbank.db import session_scope
from textbank.models import Campaign, Member, OutboundMessage, utcnow
from textbank.twilio.attempts import Attempt, classify
from textbank.twilio.clients import rest_client
from textbank.twilio.codes import MessageStatus
from textbank.twilio.wire import NotSent, Pool, WireError


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (TwilioRestException(429, "/Messages.json", "Too Many Requests", 20429), Attempt.NOT_SENT),
        (TwilioRestException(500, "/Messages.json", "Internal", 20500), Attempt.UNKNOWN),
        (TwilioRestException(503, "/Messages.json", "Unavailable"), Attempt.UNKNOWN),
        (TwilioRestException(400, "/Messages.json", "Invalid To", 21211), Attempt.REFUSED),
        (TwilioServiceException("about:blank", "Bad Gateway", 502, 20500), Attempt.UNKNOWN),
        (NotSent("cannot connect"), Attempt.NOT_SENT),
        (WireError("connection closed"), Attempt.UNKNOWN),
        (TimeoutError(), Attempt.UNKNOWN),
    ],
)
def test_what_a_failed_create_proves(error, verdict):
    assert classify(error) is verdict


def test_no_connection_is_not_sent_and_safe_to_retry():
    async def main():
        pool = Pool(connect_timeout=1)
        with pytest.raises(NotSent):
            await pool.request("POST", "http://127.0.0.1:9/m", {}, b"To=1", 1)
        await pool.close()

    asyncio.run(main())


def _stuck_row(sessions, attempted_ago: float | None, claimed_ago: float) -> int:
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    now = utcnow()
    with session_scope(sessions) as session:
        campaign = Campaign(name="c", kind="gotv", message="hi", translations={}, audience={},
                            keywords={}, replies={}, status="sending", launched_at=now,
                            snapshotted_at=now)  # fmt: skip
        session.add(campaign)
        session.flush()
        member = session.scalar(select(Member))
        row = OutboundMessage(
            campaign_id=campaign.id, member_id=member.id, phone=member.phone, body="hi",
            language="en", status=MessageStatus.SENDING, attempts=1,
            claimed_at=now - timedelta(seconds=claimed_ago),
            attempted_at=None if attempted_ago is None else now - timedelta(seconds=attempted_ago),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _sweep(live, quarantine: float):
    return sweep(
        live.sessions, rest_client(live.settings), lambda cid, buckets: len(buckets), utcnow(),
        timedelta(seconds=30), 1000, quarantine=timedelta(seconds=quarantine),
    )  # fmt: skip


def _status(sessions, row_id):
    with session_scope(sessions) as session:
        return session.get(OutboundMessage, row_id).status


def test_an_unknown_send_waits_out_its_quarantine_from_its_attempt(live):
    # Claimed long ago, but its last (unknown) attempt began 20 s ago.
    row_id = _stuck_row(live.sessions, attempted_ago=20, claimed_ago=600)
    assert _sweep(live, quarantine=60).reset_to_pending == 0
    assert _status(live.sessions, row_id) == MessageStatus.SENDING
    report = _sweep(live, quarantine=10)  # now past it; Twilio has no such message
    assert report.reset_to_pending == 1
    assert _status(live.sessions, row_id) == MessageStatus.PENDING


def test_a_dead_workers_row_waits_for_its_claim_to_end_and_a_quarantine(live):
    # No attempt recorded: it may have started as late as the claim's end (30 s here).
    row_id = _stuck_row(live.sessions, attempted_ago=None, claimed_ago=50)
    assert _sweep(live, quarantine=60).reset_to_pending == 0
    assert _status(live.sessions, row_id) == MessageStatus.SENDING
    assert _sweep(live, quarantine=10).reset_to_pending == 1
