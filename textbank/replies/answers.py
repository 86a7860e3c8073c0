"""The worker's half of a reply: act on a stored reply, and answer a keyword through the
send pipeline.

The webhook keeps the reply and answers Twilio at once; this runs in a job that takes the
reply's id. Safe to run twice, or beside another worker on the same reply: the reply's row
is locked while it is acted on, a processed reply is not acted on again, and its answer is
one outbound row per reply (unique on inbound_message_id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import redis
from sqlalchemy import Connection, bindparam
from sqlalchemy.orm import Session, sessionmaker

from textbank.campaigns.rendering import measure
from textbank.db import planned_once, upsert
from textbank.models import Classification, OutboundMessage, table
from textbank.replies.handling import (
    Decision,
    Received,
    ReplyPolicy,
    load_received,
    process_inbound,
    push,
    record_failure,
)
from textbank.twilio.codes import MessageStatus

log = logging.getLogger(__name__)
OUT = table(OutboundMessage)


@dataclass(frozen=True)
class Answered:
    """A reply acted on, and the text answering it that waits in the send pipeline, if any."""

    inbound_id: int
    classification: str
    campaign_id: int = 0
    answer_id: int | None = None  # with the campaign it belongs to (campaign_id)


@cache
def _thanks(dialect: str, compliance: bool = False):
    return (
        upsert(dialect, OUT)
        .values(
            campaign_id=bindparam("campaign_id"),
            member_id=bindparam("member_id"),
            phone=bindparam("phone"),
            body=bindparam("body"),
            language=bindparam("language"),
            segments=bindparam("segments"),
            status=MessageStatus.PENDING.value,
            attempts=0,
            created_at=bindparam("now"),
            updated_at=bindparam("now"),
            inbound_message_id=bindparam("inbound_id"),
            compliance=compliance,
        )
        .on_conflict_do_nothing(index_elements=[OUT.c.inbound_message_id])
        .returning(OUT.c.id)
    )


def queue_answer(
    conn: Connection, received: Received, decision: Decision, now: datetime,
    compliance: bool = False,
) -> int | None:  # fmt: skip
    """Write the keyword's thanks as a pending text of the campaign; its id (None: written
    already). The pipeline then sends it as it sends any text: gated, paced, checked
    against the opt-out list at send time, reconciled if a worker dies mid-send. A
    compliance answer (STOP's, HELP's) is the one text that list lets through."""
    member = received.sender
    if member is None or decision.campaign_id is None or not decision.reply:
        return None
    row_id = conn.execute(
        _thanks(conn.dialect.name, compliance),
        {"campaign_id": decision.campaign_id, "member_id": member["id"], "phone": received.phone,
         "body": decision.reply, "language": member["language"] or "en",
         "segments": measure(decision.reply).segments, "now": now, "inbound_id": received.id},
    ).scalar()  # fmt: skip
    return row_id


def answer_stored(
    sessions: sessionmaker[Session], inbound_id: int, policy: ReplyPolicy, now: datetime,
    client: redis.Redis | None,
) -> Answered | None:  # fmt: skip
    """Act on one stored reply; None if it was acted on already (or is being, elsewhere)."""
    with sessions.begin() as session, planned_once(session.connection()) as conn:
        # A handful of fixed point statements per reply: planned once per connection.
        received = load_received(conn, inbound_id, policy, now, claim=True)
        if received is None or received.done_as is not None:
            return None
        decision = process_inbound(conn, received, policy, now, client)
        answer_id = None
        if decision.classification == Classification.KEYWORD:
            answer_id = queue_answer(conn, received, decision, now)
        elif decision.reply:
            # STOP, START, HELP and STATS are answered by the webhook itself; one reaching
            # here failed there (Twilio was answered without it) and is acted on only now,
            # so it is answered now, once (one answer per reply), through the pipeline.
            answer_id = queue_answer(conn, received, decision, now, compliance=True)
            if answer_id is None:  # a stranger's: no campaign's pipeline to send it
                log.warning("inbound %s: %s acted on late; its answer could not be sent",
                            inbound_id, decision.classification.value)  # fmt: skip
    if decision.goes_live:  # routed and read after the reply's commit, published after it
        with sessions.begin() as session:
            updates = push(session.connection(), client, decision, inbound_id, now)
        for update in updates:
            update.publish(client)
    return Answered(inbound_id, decision.classification.value, decision.campaign_id or 0, answer_id)


def record_stored_failure(sessions: sessionmaker[Session], inbound_id: int, exc: BaseException):
    """Note on the reply why acting on it failed (it stays unprocessed for the sweep)."""
    with sessions.begin() as session:
        record_failure(session.connection(), inbound_id, exc)
