"""The do-not-call list: phones that pressed 9, sticky, and seen by placers within a second."""

from __future__ import annotations

from datetime import datetime

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from textbank.compliance.optouts import opt_out
from textbank.db import dialect_name, upsert
from textbank.models import CallOptOut, OptOutEvent, OptOutSource, table

RECENT_CALL_OPT_OUTS = "textbank:callouts:recent"  # phone -> when; placers watch it
RECENT_KEEP = 24 * 3600
NO_CALLS = "no_calls"  # the ledger's kind for a calls-only opt-out


def remember_recent(client: redis.Redis, phone: str, now: datetime) -> None:
    ts = now.timestamp()
    with client.pipeline() as pipe:
        pipe.zadd(RECENT_CALL_OPT_OUTS, {phone: ts})
        pipe.zremrangebyscore(RECENT_CALL_OPT_OUTS, "-inf", ts - RECENT_KEEP)
        pipe.execute()


def opt_out_of_calls(
    session: Session, phone: str, member_id: int | None, campaign_id: int | None,
    now: datetime, *, texts_too: bool, redis_client: redis.Redis | None = None,
) -> bool:  # fmt: skip
    """Never call this phone again (and, when the organization says so, never text it).

    True if the phone was not on the do-not-call list before. Texts go through the global
    opt-out (its ledger event records it); a calls-only opt-out writes its own ledger event.
    """
    added = (
        session.execute(
            upsert(dialect_name(session), table(CallOptOut))
            .values(phone=phone, member_id=member_id, campaign_id=campaign_id,
                    source=OptOutSource.VOICE.value, created_at=now)
            .on_conflict_do_nothing(index_elements=["phone"])
            .returning(CallOptOut.phone)
        ).first()
        is not None
    )  # fmt: skip
    if texts_too:
        opt_out(session, phone, OptOutSource.VOICE, now, text="pressed 9 on a call",
                client=redis_client)  # fmt: skip
    elif added:
        session.execute(
            insert(OptOutEvent).values(phone=phone, member_id=member_id, kind=NO_CALLS,
                                       source=OptOutSource.VOICE.value,
                                       text="pressed 9 on a call: no more calls", created_at=now)
        )  # fmt: skip
    if redis_client is not None:
        remember_recent(redis_client, phone, now)
    return added
