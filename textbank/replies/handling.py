"""Inbound texts: store first, then read them and act: opt-out, opt-in, help, keyword, human."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from textbank.campaigns.rendering import local_value, render
from textbank.compliance.optouts import opt_in, opt_out
from textbank.conversations.feed import Update
from textbank.conversations.routing import reply_arrived
from textbank.conversations.stopped import member_opted_out
from textbank.db import atomic
from textbank.engagement.marks import CONVERSATIONAL, Step
from textbank.engagement.outcomes import step_for
from textbank.members.phones import InvalidPhone, looks_e164, to_e164
from textbank.models import Classification, InboundMessage, OptOutSource, OutcomeSource
from textbank.replies import confirmations
from textbank.replies import keywords as kw
from textbank.replies import store as rs
from textbank.reports.digests import local_stats_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyPolicy:
    """How textbank answers: who we are, what counts as STOP, how far back a reply attributes."""

    org_name: str
    help_text: str | None = None
    opt_out_phrases: tuple[str, ...] = kw.DEFAULT_OPT_OUT_PHRASES
    attribution_window: timedelta = timedelta(days=7)

    def confirmation(self, kind: str, language: str | None, custom: dict | None = None) -> str:
        """The STOP/START/HELP answer in the member's language, the org's wording first."""
        english = self.help_text if kind == "help" else None
        return confirmations.fill(
            confirmations.wording(kind, language, custom or {}, english), self.org_name
        )

    def help_reply(self, language: str | None = None, custom: dict | None = None) -> str:
        return self.confirmation("help", language, custom)

    def opt_out_reply(self, language: str | None = None, custom: dict | None = None) -> str:
        return self.confirmation("opt_out", language, custom)

    def opt_in_reply(self, language: str | None = None, custom: dict | None = None) -> str:
        return self.confirmation("opt_in", language, custom)


def policy_from_settings(settings) -> ReplyPolicy:
    return ReplyPolicy(
        org_name=settings.org_name,
        help_text=settings.help_text,
        opt_out_phrases=settings.opt_out_phrases,
        attribution_window=timedelta(days=settings.reply_window_days),
    )


@dataclass
class Decision:
    classification: Classification
    reply: str | None = None
    outcome: str | None = None
    keyword: str | None = None
    conversation_id: int | None = None
    campaign_id: int | None = None
    member_id: int | None = None

    @property
    def goes_live(self) -> bool:
        """Whether consoles are told of it: a conversation's reply, or a member's STOP."""
        return self.conversation_id is not None or (
            self.classification == Classification.OPT_OUT and self.member_id is not None
        )


@dataclass(frozen=True)
class Received:
    """A stored reply, the phone it came from, and the member who sent it (None if nobody)."""

    id: int
    body: str
    params: Mapping[str, str]  # all Twilio posted, e.g. OptOutType
    phone: str
    sender: dict | None
    done_as: Classification | None = None  # processed already, as this


def sender_phone(from_phone: str) -> str:
    """The phone to look the sender up by: Twilio's From, in E.164 as members are stored."""
    if looks_e164(from_phone):
        # Already E.164, as Twilio sends it: parsing would give back this same string if it
        # is valid, and we keep it as it is if not; the parse cost as much as a statement.
        return from_phone
    try:
        return to_e164(from_phone)
    except InvalidPhone:
        return from_phone  # short codes and odd senders still get STOP and HELP


def receive(
    conn: Connection, params: Mapping[str, str], policy: ReplyPolicy, now: datetime
) -> Received | None:
    """Keep the text before anything else; None when Twilio is retrying one we already have."""
    phone = sender_phone(params.get("From", ""))
    stored = rs.store_and_look_up(conn, params, phone, now - policy.attribution_window, now)
    if stored is None:
        return None
    inbound_id, sender = stored
    return Received(inbound_id, params.get("Body", ""), params, phone, sender)


def load_received(
    conn: Connection, inbound_id: int, policy: ReplyPolicy, now: datetime, claim: bool = False
) -> Received | None:
    """A reply stored earlier, read back to act on; with claim, locked for this transaction
    (None while another transaction holds it, or if there is no such reply)."""
    message = conn.execute(rs.CLAIM_STORED if claim else rs.READ_STORED, {"id": inbound_id}).first()
    if message is None:
        return None
    phone = sender_phone(message.from_phone)
    sender = rs.look_up(conn, phone, now - policy.attribution_window)
    done_as = Classification(message.classification) if message.processed_at else None
    return Received(message.id, message.body, message.params or {}, phone, sender, done_as)


def record_failure(conn: Connection, inbound_id: int, exc: BaseException) -> None:
    """Flag a stored reply whose processing failed; the sweeper tries it again."""
    error = f"{type(exc).__name__}: {exc}"[:300]
    conn.execute(rs.FLAG_FAILED, {"inbound_id": inbound_id, "error": error})


@dataclass(frozen=True)
class CampaignView:
    """What answering a reply needs of a campaign, cached briefly per process."""

    id: int
    keywords: dict
    translations: dict
    replies: dict
    _tables: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def keyword_table(self, language: str | None) -> dict[str, str]:
        """Every spelling of the keywords a member writing `language` may use."""
        key = language or ""
        table = self._tables.get(key)
        if table is None:
            table = kw.keyword_table(self.keywords, [language, *self.translations])
            self._tables[key] = table
        return table


_CAMPAIGN_TTL = 10.0  # seconds: a campaign edited in the database takes effect within this
# Keyed by id and creation time, so a recreated database reusing an id never hits old data.
_campaigns: dict[tuple[int, datetime], tuple[float, CampaignView]] = {}


def campaign_view(conn: Connection, campaign_id: int, created_at: datetime) -> CampaignView | None:
    key = (campaign_id, created_at)
    cached = _campaigns.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    row = conn.execute(rs.CAMPAIGN, {"campaign_id": campaign_id}).first()
    if row is None:
        return None
    view = CampaignView(row.id, row.keywords or {}, row.translations or {}, row.replies or {})
    if len(_campaigns) > 1000:
        _campaigns.clear()
    _campaigns[key] = (time.monotonic() + _CAMPAIGN_TTL, view)
    return view


def attribute_campaign(
    conn: Connection, member_id: int, now: datetime, window: timedelta
) -> CampaignView | None:
    """The campaign that texted this member most recently, within the window."""
    latest = conn.execute(
        rs.LATEST_CAMPAIGN, {"member_id": member_id, "since": now - window}
    ).first()
    return campaign_view(conn, *latest) if latest else None


def _reply_text(campaign: CampaignView, outcome: str, member: dict) -> str | None:
    reply = campaign.replies.get(outcome)
    if isinstance(reply, dict):
        language = member["language"]
        reply = reply.get(language) or reply.get("en") or next(iter(reply.values()), None)
    if not reply:
        return None
    return render(
        reply, {**member, "local": local_value(member.get("local_name"), member["local"])}
    )


def _confirm(conn: Connection, policy: ReplyPolicy, kind: str, language: str | None) -> str:
    return policy.confirmation(kind, language, confirmations.custom_texts(conn))


def _stats(conn: Connection, local: str) -> str:
    with Session(bind=conn) as session:  # joins this transaction; the report reads through it
        return local_stats_text(session, local)


def answered_in_request(body: str, policy: ReplyPolicy) -> bool:
    """Whether a reply's answer must be the webhook's own TwiML: STOP, START, HELP and STATS.

    A confirmation goes to a phone that just opted out, and HELP answers whoever asks,
    opted out or not; the send pipeline texts neither. So these few are acted on before
    Twilio is answered, which also makes a STOP stop the very next send. Reading the words
    costs microseconds; everything else is left to the worker.
    """
    reading = kw.Reading.of(body)
    return kw.is_opt_out(reading, policy.opt_out_phrases) or kw.whole_word(
        reading, kw.OPT_IN_WORDS | kw.HELP_WORDS | kw.STATS_WORDS
    )


def _read(
    reading: kw.Reading, member: dict | None, campaign: CampaignView | None, policy: ReplyPolicy
) -> tuple[Classification, tuple[str, str] | None]:
    """What the reply is, in this order, and the (keyword, outcome) it matched, if any."""
    if kw.is_opt_out(reading, policy.opt_out_phrases):
        return Classification.OPT_OUT, None
    if kw.whole_word(reading, kw.OPT_IN_WORDS):
        return Classification.OPT_IN, None
    if kw.whole_word(reading, kw.HELP_WORDS):
        return Classification.HELP, None
    leader = member and member["is_leader"] and member["local"]
    if leader and kw.whole_word(reading, kw.STATS_WORDS):
        return Classification.STATS, None
    if member and campaign is not None:
        match = kw.match_keyword(reading, campaign.keyword_table(member["language"]))
        if match:
            return Classification.KEYWORD, match
    return Classification.CONVERSATION, None


def _answer(
    conn: Connection, kind: Classification, match: tuple[str, str] | None, received: Received,
    campaign: CampaignView | None, policy: ReplyPolicy, now: datetime,
    client: redis.Redis | None,
) -> Decision:  # fmt: skip
    """Do what the reply asks for (opt out, opt in) and say what to answer."""
    body, phone, member = received.body, received.phone, received.sender
    twilio_handled = received.params.get("OptOutType")  # Twilio's Advanced Opt-Out answered
    language = member["language"] if member else None
    if kind == Classification.OPT_OUT:
        changed = opt_out(conn, phone, OptOutSource.SMS_KEYWORD, now, text=body, client=client)
        answer = changed and not twilio_handled
        return Decision(kind, _confirm(conn, policy, "opt_out", language) if answer else None)
    if kind == Classification.OPT_IN:
        changed = opt_in(conn, phone, OptOutSource.SMS_KEYWORD, now, text=body, client=client)
        answer = changed and not twilio_handled
        return Decision(kind, _confirm(conn, policy, "opt_in", language) if answer else None)
    if kind == Classification.HELP:
        return Decision(kind, None if twilio_handled else _confirm(conn, policy, "help", language))
    if kind == Classification.STATS:
        assert member is not None  # classify() finds STATS only from a known leader
        return Decision(kind, _stats(conn, member["local"]))
    if kind == Classification.KEYWORD:
        # classify() finds a keyword only for a known member of a known campaign.
        assert match is not None and member is not None and campaign is not None
        keyword, outcome = match
        # Never answered to a phone that opted out and then texted a keyword.
        reply = None if member["suppressed"] else _reply_text(campaign, outcome, member)
        return Decision(kind, reply, outcome, keyword=keyword)
    return Decision(kind)


# Replies whose processing is more than one statement: run as one transaction.
_SEVERAL_WRITES = (Classification.OPT_OUT, Classification.OPT_IN)


def process_inbound(
    conn: Connection, received: Received, policy: ReplyPolicy, now: datetime,
    client: redis.Redis | None = None,
) -> Decision:  # fmt: skip
    """Attribute and act on a stored inbound text; safe to run again on the same one.

    On a connection that autocommits (the webhook's, on PostgreSQL) a reply that is one
    statement of writes (most are) commits as it completes; one that takes several takes
    a transaction. On any other connection they all go in the caller's transaction.
    """
    member = received.sender
    if received.done_as is not None:
        return Decision(received.done_as)
    campaign = None
    if member and member["campaign_id"] is not None:
        campaign = campaign_view(conn, member["campaign_id"], member["campaign_created_at"])
    kind, match = _read(kw.Reading.of(received.body), member, campaign, policy)
    with atomic(conn) if member is None or kind in _SEVERAL_WRITES else nullcontext():
        contact_id = None
        if member is None:
            contact_id = conn.execute(
                rs.contact_statement(conn.dialect.name), {"phone": received.phone, "now": now}
            ).scalar_one()
        decision = _answer(conn, kind, match, received, campaign, policy, now, client)
        steps = (Step.REPLIED,) if kind in CONVERSATIONAL else ()
        if decision.outcome:
            steps = (*steps, step_for(decision.outcome))
        decision.conversation_id, created = rs.finish(
            conn, inbound_id=received.id, member_id=member["id"] if member else None,
            contact_id=contact_id, campaign_id=campaign.id if campaign else None,
            classification=kind.value, keyword=decision.keyword, reply=decision.reply,
            steps=steps, now=now, conversation=kind == Classification.CONVERSATION,
            outcome=(decision.outcome, OutcomeSource.SMS_KEYWORD) if decision.outcome else None,
        )  # fmt: skip
    decision.campaign_id = campaign.id if campaign else None
    if decision.outcome and not created:
        decision.reply = None  # recorded already: answered the first time only
    member_id = decision.member_id = member["id"] if member else None
    log.info("inbound %s (member %s, campaign %s): %s", received.id, member_id,
             decision.campaign_id, kind.value)  # fmt: skip
    return decision


def push(
    conn: Connection, client: redis.Redis | None, decision: Decision, inbound_id: int,
    now: datetime,
) -> list[Update]:  # fmt: skip
    """Route a reply that opened or continued a conversation to its volunteer or the pool,
    or tell a member's STOP to their open conversations, and read what the consoles are sent
    of it: the caller publishes it after its commit, so a console never shows what the
    database does not hold."""
    if decision.conversation_id is not None:
        update = reply_arrived(conn, client, decision.conversation_id, inbound_id, now)
        return [update] if update is not None else []
    if decision.goes_live and decision.member_id is not None:
        return member_opted_out(conn, client, decision.member_id, inbound_id)
    return []


def unprocessed(
    sessions, now: datetime, older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> list[int]:
    """Stored replies nobody has acted on for a while: their job was never queued (the web
    process died between storing and queueing, Redis was down) or it failed. The partial
    index on processed_at IS NULL keeps this cheap however many replies there are."""
    with sessions() as session:
        return list(
            session.scalars(
                select(InboundMessage.id)
                .where(
                    InboundMessage.processed_at.is_(None),
                    InboundMessage.created_at < now - older_than,
                )
                .order_by(InboundMessage.id)
                .limit(limit)
            )
        )
