"""A reply's reads and writes: one round trip per step on PostgreSQL, plain statements on SQLite.

A reply is a handful of indexed reads and writes. Building their statements anew for each
reply cost more CPU than running them, and each round trip costs both processes a wake-up,
so the statements are built once, and on PostgreSQL the writes of one step go together as
data-modifying CTEs in a single statement, compiled once and run on the driver. SQLite,
which has no such CTEs, runs the same statements one after another in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    null,
    select,
    true,
    update,
)

from textbank.db import upsert
from textbank.engagement.marks import Step, mark_member, mark_member_statement
from textbank.engagement.outcomes import check_name, insert_outcome, outcome_statement
from textbank.models import (
    Campaign,
    Contact,
    Conversation,
    ConversationStatus,
    InboundMessage,
    Local,
    Member,
    OutboundMessage,
    OutcomeSource,
    Suppression,
    table,
)

IN, M, L = table(InboundMessage), table(Member), table(Local)
OUT, CAMP, CONV = table(OutboundMessage), table(Campaign), table(Conversation)
CONTACT, SUPP = table(Contact), table(Suppression)

READ_STORED = select(
    IN.c.id, IN.c.from_phone, IN.c.body, IN.c.params, IN.c.processed_at, IN.c.classification
).where(IN.c.id == bindparam("id"))
# The worker's read: a reply another worker (or the sweep's) is acting on right now is
# skipped, not done twice; SQLite, which has one writer at a time, ignores the lock.
CLAIM_STORED = READ_STORED.with_for_update(skip_locked=True)


@cache
def _store(dialect: str):
    return (
        upsert(dialect, IN)
        .values(
            twilio_sid=bindparam("sid"),
            from_phone=bindparam("from_phone"),
            to_phone=bindparam("to_phone"),
            body=bindparam("body"),
            params=bindparam("params"),
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=[IN.c.twilio_sid])
        .returning(IN.c.id)
    )


# The campaign that texted this member most recently (Twilio took the text) within the window.
_latest_campaign = (
    select(OUT.c.campaign_id)
    .where(
        OUT.c.member_id == M.c.id,
        OUT.c.twilio_sid.is_not(None),
        OUT.c.created_at >= bindparam("since"),
    )
    .order_by(OUT.c.created_at.desc(), OUT.c.id.desc())
    .limit(1)
    .scalar_subquery()
)

SENDER_COLUMNS = (
    M.c.id, M.c.first_name, M.c.last_name, M.c.worksite, M.c.language, M.c.is_leader,
    L.c.number.label("local"), L.c.name.label("local_name"), CAMP.c.id.label("campaign_id"),
    CAMP.c.created_at.label("campaign_created_at"),
    exists().where(SUPP.c.phone == M.c.phone).label("suppressed"),
)  # fmt: skip

SENDER_KEYS = tuple(c.name for c in SENDER_COLUMNS)

# Everything answering a reply needs about its sender: who, their local, the campaign.
LOOKUP = (
    select(*SENDER_COLUMNS)
    .select_from(M)
    .outerjoin(L, L.c.id == M.c.local_id)
    .outerjoin(CAMP, CAMP.c.id == _latest_campaign)
    .where(M.c.phone == bindparam("phone"))
)

LATEST_CAMPAIGN = (
    select(CAMP.c.id, CAMP.c.created_at)
    .select_from(M)
    .join(CAMP, CAMP.c.id == _latest_campaign)
    .where(M.c.id == bindparam("member_id"))
)

CAMPAIGN = select(CAMP.c.id, CAMP.c.keywords, CAMP.c.translations, CAMP.c.replies).where(
    CAMP.c.id == bindparam("campaign_id")
)


class _OnDriver:
    """A PostgreSQL statement compiled once and run on psycopg under SQLAlchemy's connection.

    For the reply path's two statements only: SQLAlchemy's work per execution (parameters,
    result metadata) cost the web process as much CPU as the statements cost PostgreSQL.
    Values go in as they are (JSON wrapped) and a row comes back as a tuple.
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        self.sql: str | None = None
        self.fixed: dict = {}

    def one(self, conn: Connection, values: dict) -> Any:
        if self.sql is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            if compiled.insert_prefetch or compiled.update_prefetch:
                raise TypeError("a column default computed in Python would be skipped")
            self.fixed = {k: v for k, v in compiled.params.items() if v is not None}
            self.sql = compiled.string
        driver = conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("connection closed")
        return driver.execute(self.sql, {**self.fixed, **values}).fetchone()


def storable(form: Mapping[str, str]) -> dict[str, str]:
    """Twilio's parameters as they can be kept: PostgreSQL text holds no NUL byte, and a
    signed reply carrying one is still the member's reply (U+FFFD stands in for it)."""
    return {k.replace("\x00", "\ufffd"): v.replace("\x00", "\ufffd") for k, v in form.items()}


def _store_values(params: Mapping[str, str], now: datetime) -> dict:
    return {"sid": params["MessageSid"], "from_phone": params.get("From", ""),
            "to_phone": params.get("To"), "body": params.get("Body", ""),
            "params": dict(params), "now": now}  # fmt: skip


@cache
def _store_on_driver() -> _OnDriver:
    return _OnDriver(_store("postgresql"))


def store(conn: Connection, params: Mapping[str, str], now: datetime) -> int | None:
    """Keep a reply, one statement: its id, or None when Twilio is retrying one we have.

    Autocommitted on PostgreSQL (the caller commits on SQLite): the reply is kept before
    Twilio is answered, and the worker does the rest.
    """
    values = _store_values(params, now)
    if conn.dialect.name != "postgresql":
        return conn.execute(_store(conn.dialect.name), values).scalar()
    row = _store_on_driver().one(conn, {**values, "params": Json(values["params"])})
    return None if row is None else row[0]


@cache
def _store_and_look_up() -> _OnDriver:
    """PostgreSQL: store the reply and read its sender in one statement."""
    stored = _store("postgresql").cte("stored")
    sender = LOOKUP.subquery("sender")
    return _OnDriver(
        select(
            stored.c.id.label("inbound_id"),
            *(sender.c[c.name].label(f"sender_{c.name}") for c in sender.c),
        ).select_from(stored.outerjoin(sender, true()))
    )


def store_and_look_up(
    conn: Connection, params: Mapping[str, str], phone: str, since: datetime, now: datetime
) -> tuple[int, dict | None] | None:
    """Keep the text and read who sent it: (its id, the sender); None for a Twilio retry.

    Autocommitted on PostgreSQL (the caller commits on SQLite): the reply is kept before
    anything is done about it.
    """
    values = {**_store_values(params, now), "phone": phone, "since": since}
    if conn.dialect.name != "postgresql":
        inbound_id = conn.execute(_store(conn.dialect.name), values).scalar()
        return None if inbound_id is None else (inbound_id, look_up(conn, phone, since))
    row = _store_and_look_up().one(conn, {**values, "params": Json(values["params"])})
    if row is None:
        return None
    inbound_id, *columns = row
    sender = dict(zip(SENDER_KEYS, columns, strict=True))
    return inbound_id, (sender if sender["id"] is not None else None)


def look_up(conn: Connection, phone: str, since: datetime) -> dict | None:
    row = conn.execute(LOOKUP, {"phone": phone, "since": since}).first()
    return dict(row._mapping) if row else None


@cache
def contact_statement(dialect: str):
    """A non-member sender's id, creating the contact the first time."""
    stmt = upsert(dialect, CONTACT).values(
        phone=bindparam("phone"), first_seen_at=bindparam("now"), last_seen_at=bindparam("now")
    )
    return stmt.on_conflict_do_update(
        index_elements=[CONTACT.c.phone], set_={"last_seen_at": stmt.excluded.last_seen_at}
    ).returning(CONTACT.c.id)


# No campaign is one conversation of its own; 0 is never a campaign id.
_CAMPAIGN_KEY = func.coalesce(CONV.c.campaign_id, literal_column("0"))
# Spelled out, not bound: the database matches it to the partial index's own predicate.
_OPEN = CONV.c.status == literal_column(f"'{ConversationStatus.OPEN.value}'")


@cache
def _conversation(dialect: str, by: str):
    """The open conversation of this member (by="member_id") or contact, created if none."""
    stmt = upsert(dialect, CONV).values(
        member_id=bindparam("member_id"), contact_id=bindparam("contact_id"),
        campaign_id=bindparam("campaign_id"), status=ConversationStatus.OPEN.value,
        created_at=bindparam("now"), last_message_at=bindparam("now"),
    )  # fmt: skip
    return stmt.on_conflict_do_update(
        index_elements=[CONV.c[by], _CAMPAIGN_KEY],
        index_where=_OPEN & CONV.c[by].is_not(None),
        set_={"last_message_at": stmt.excluded.last_message_at},
    ).returning(CONV.c.id)


def _finish(conversation_id, reply_body):
    return (
        update(IN)
        .where(IN.c.id == bindparam("inbound_id"))
        .values(
            member_id=bindparam("member_id"), contact_id=bindparam("contact_id"),
            campaign_id=bindparam("campaign_id"), conversation_id=conversation_id,
            keyword=bindparam("keyword"), classification=bindparam("classification"),
            reply_body=reply_body, processed_at=bindparam("now"),
        )
    )  # fmt: skip


FINISH = _finish(bindparam("conversation_id"), bindparam("reply_body"))

FLAG_FAILED = update(IN).where(IN.c.id == bindparam("inbound_id")).values(error=bindparam("error"))


@cache
def _finish_in_one(by: str | None, outcome: bool, steps: tuple[Step, ...]) -> _OnDriver:
    """PostgreSQL: the conversation or outcome, the reply's own row and the member's firsts."""
    conv = _conversation("postgresql", by).cte("conv") if by else None
    new = outcome_statement("postgresql", True).cte("new_outcome") if outcome else None
    conversation_id = select(conv.c.id).scalar_subquery() if conv is not None else null()
    created = exists(select(new.c.id)) if new is not None else false()
    # A repeated keyword records nothing new and is not answered again.
    reply: ColumnElement[Any] = bindparam("reply_body")
    if outcome:
        reply = case((created, reply), else_=null())
    ctes = [c for c in (conv, new) if c is not None]
    ctes.append(_finish(conversation_id, reply).returning(IN.c.id).cte("finished"))
    if steps:
        ctes.append(mark_member_statement(steps).returning(M.c.id).cte("marked"))
    return _OnDriver(
        select(conversation_id.label("conversation_id"), created.label("created")).add_cte(*ctes)
    )


def finish(
    conn: Connection, *, inbound_id: int, member_id: int | None, contact_id: int | None,
    campaign_id: int | None, classification: str, keyword: str | None, reply: str | None,
    steps: tuple[Step, ...], now: datetime, conversation: bool = False,
    outcome: tuple[str, OutcomeSource] | None = None,
) -> tuple[int | None, bool]:  # fmt: skip
    """Write what a reply came to: its conversation or outcome (name, source), its row, firsts.

    Returns the conversation's id and whether the outcome is new (the reply is kept and sent
    only then).
    """
    values = {"inbound_id": inbound_id, "member_id": member_id, "contact_id": contact_id,
              "campaign_id": campaign_id, "classification": classification,
              "keyword": keyword, "reply_body": reply, "now": now}  # fmt: skip
    by = ("member_id" if member_id else "contact_id") if conversation else None
    steps = steps if member_id else ()
    if outcome:
        check_name(outcome[0])
    if conn.dialect.name == "postgresql":
        if outcome:
            values.update(outcome_name=outcome[0], outcome_source=outcome[1].value,
                          outcome_inbound_id=inbound_id, outcome_note=None)  # fmt: skip
        conversation_id, created = _finish_in_one(by, outcome is not None, steps).one(conn, values)
        return conversation_id, created
    conversation_id, created = None, False
    if by:
        conversation_id = conn.execute(_conversation(conn.dialect.name, by), values).scalar_one()
    if outcome and member_id is not None:
        created = insert_outcome(conn, member_id, campaign_id, outcome[0], outcome[1], now,
                                 inbound_message_id=inbound_id)  # fmt: skip
        values["reply_body"] = reply if created else None
    conn.execute(FINISH, {**values, "conversation_id": conversation_id})
    if steps and member_id is not None:
        mark_member(conn, member_id, steps, now)
    return conversation_id, created
