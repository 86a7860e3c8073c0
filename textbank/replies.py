"""Inbound texts: store first, then read them and act: opt-out, opt-in, help, keyword, human."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from textbank import keywords as kw
from textbank.digests import local_stats_text
from textbank.engagement import CONVERSATIONAL, Step, mark
from textbank.models import (
    Campaign,
    Classification,
    Contact,
    Conversation,
    InboundMessage,
    Local,
    Member,
    OptOutSource,
    OutboundMessage,
    OutcomeSource,
)
from textbank.optouts import is_suppressed, opt_in, opt_out
from textbank.outcomes import record_outcome
from textbank.phones import InvalidPhone, to_e164
from textbank.rendering import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyPolicy:
    """How textbank answers: who we are, what counts as STOP, how far back a reply attributes."""

    org_name: str
    help_text: str | None = None
    opt_out_phrases: tuple[str, ...] = kw.DEFAULT_OPT_OUT_PHRASES
    attribution_window: timedelta = timedelta(days=7)

    def help_reply(self) -> str:
        return self.help_text or (
            f"{self.org_name}: texts from your union about campaigns and actions. "
            "Msg & data rates may apply. Reply STOP to opt out."
        )

    def opt_out_reply(self) -> str:
        return (
            f"You are unsubscribed from {self.org_name} texts and will get no more. "
            "Reply START to re-join."
        )

    def opt_in_reply(self) -> str:
        return f"You are re-subscribed to {self.org_name} texts. Reply STOP to opt out."


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


STORED_COLUMNS = (
    InboundMessage.id, InboundMessage.from_phone, InboundMessage.body, InboundMessage.params,
    InboundMessage.processed_at, InboundMessage.classification,
)  # fmt: skip


def store_inbound(session: Session, params: Mapping[str, str], now: datetime):
    """Keep the text before anything else; None when Twilio is retrying one we already have.

    Returns the stored row as process_inbound reads it, so the webhook need not read it back.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(InboundMessage)
        .values(
            twilio_sid=params["MessageSid"],
            from_phone=params.get("From", ""),
            to_phone=params.get("To"),
            body=params.get("Body", ""),
            params=dict(params),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["twilio_sid"])
        .returning(*STORED_COLUMNS)
    )
    return session.execute(stmt).first()


@dataclass(frozen=True)
class CampaignView:
    """What answering a reply needs of a campaign, cached briefly per process."""

    id: int
    keywords: dict
    translations: dict
    replies: dict


_CAMPAIGN_TTL = 10.0  # seconds: a campaign edited in the database takes effect within this
# Keyed by id and creation time, so a recreated database reusing an id never hits old data.
_campaigns: dict[tuple[int, datetime], tuple[float, CampaignView]] = {}


def campaign_view(session: Session, campaign_id: int, created_at: datetime) -> CampaignView | None:
    key = (campaign_id, created_at)
    cached = _campaigns.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    row = session.execute(
        select(Campaign.id, Campaign.keywords, Campaign.translations, Campaign.replies).where(
            Campaign.id == campaign_id
        )
    ).first()
    if row is None:
        return None
    view = CampaignView(row.id, row.keywords or {}, row.translations or {}, row.replies or {})
    if len(_campaigns) > 1000:
        _campaigns.clear()
    _campaigns[key] = (time.monotonic() + _CAMPAIGN_TTL, view)
    return view


def attribute_campaign(
    session: Session, member_id: int, now: datetime, window: timedelta
) -> CampaignView | None:
    """The campaign that texted this member most recently, within the window."""
    latest = session.execute(
        select(OutboundMessage.campaign_id, Campaign.created_at)
        .join(Campaign, Campaign.id == OutboundMessage.campaign_id)
        .where(
            OutboundMessage.member_id == member_id,
            OutboundMessage.twilio_sid.is_not(None),  # Twilio took it: the member was texted
            OutboundMessage.created_at >= now - window,
        )
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()
    return campaign_view(session, *latest) if latest else None


def _contact_id(session: Session, phone: str, now: datetime) -> int:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Contact).values(phone=phone, first_seen_at=now, last_seen_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["phone"], set_={"last_seen_at": now})
    session.execute(stmt)
    return session.scalar(select(Contact.id).where(Contact.phone == phone))


def _open_conversation(
    session: Session, member_id: int | None, contact_id: int | None, campaign_id: int | None,
    now: datetime,
) -> int:  # fmt: skip
    """Reuse the open conversation for this person and campaign, or start one."""
    who = (
        Conversation.member_id == member_id if member_id else Conversation.contact_id == contact_id
    )
    table = Conversation.__table__  # Core, not the unit of work: this runs for most replies
    same_campaign = (
        table.c.campaign_id == campaign_id if campaign_id else table.c.campaign_id.is_(None)
    )
    conversation_id = session.scalar(
        update(table)
        .where(who, same_campaign, table.c.status == "open")
        .values(last_message_at=now)
        .returning(table.c.id)
    )
    if conversation_id is None:
        conversation_id = session.scalar(
            table.insert()
            .values(member_id=member_id, contact_id=contact_id, campaign_id=campaign_id,
                    status="open", created_at=now, last_message_at=now)
            .returning(table.c.id)
        )  # fmt: skip
    return conversation_id


def _reply_text(campaign: CampaignView, outcome: str, member) -> str | None:
    reply = campaign.replies.get(outcome)
    if isinstance(reply, dict):
        reply = reply.get(member.language) or reply.get("en") or next(iter(reply.values()), None)
    if not reply:
        return None
    return render(reply, member._mapping)


def _classify(
    session: Session, message, phone: str, member, contact_id: int | None,
    campaign: CampaignView | None, policy: ReplyPolicy, now: datetime,
    client: redis.Redis | None,
) -> Decision:  # fmt: skip
    body = message.body
    twilio_handled = (message.params or {}).get("OptOutType")  # Advanced Opt-Out answered
    if kw.is_opt_out(body, policy.opt_out_phrases):
        changed = opt_out(session, phone, OptOutSource.SMS_KEYWORD, now, text=body, client=client)
        send = changed and not twilio_handled
        return Decision(Classification.OPT_OUT, policy.opt_out_reply() if send else None)
    if kw.whole_word(body, kw.OPT_IN_WORDS):
        changed = opt_in(session, phone, OptOutSource.SMS_KEYWORD, now, text=body, client=client)
        send = changed and not twilio_handled
        return Decision(Classification.OPT_IN, policy.opt_in_reply() if send else None)
    if kw.whole_word(body, kw.HELP_WORDS):
        return Decision(Classification.HELP, None if twilio_handled else policy.help_reply())
    if (
        member is not None
        and member.is_leader
        and member.local
        and kw.whole_word(body, kw.STATS_WORDS)
    ):
        return Decision(Classification.STATS, local_stats_text(session, member.local))
    if member is not None and campaign is not None:
        languages = [member.language, *campaign.translations]
        match = kw.match_keyword(body, kw.keyword_table(campaign.keywords, languages))
        if match:
            keyword, outcome = match
            created = record_outcome(session, member.id, campaign.id, outcome,
                                     OutcomeSource.SMS_KEYWORD, now,
                                     inbound_message_id=message.id)  # fmt: skip
            reply = None
            if created and not is_suppressed(session, phone):
                reply = _reply_text(campaign, outcome, member)
            return Decision(Classification.KEYWORD, reply, outcome, keyword=keyword)
    conversation_id = _open_conversation(
        session, member.id if member else None, contact_id, campaign.id if campaign else None, now
    )
    return Decision(Classification.CONVERSATION, conversation_id=conversation_id)


def process_inbound(
    session: Session, inbound_id: int, policy: ReplyPolicy, now: datetime,
    client: redis.Redis | None = None, stored=None,
) -> Decision:  # fmt: skip
    """Attribute and act on a stored inbound text; safe to run again on the same one."""
    message = (
        stored
        or session.execute(select(*STORED_COLUMNS).where(InboundMessage.id == inbound_id)).one()
    )
    if message.processed_at is not None:
        return Decision(Classification(message.classification))
    try:
        phone = to_e164(message.from_phone)
    except InvalidPhone:
        phone = message.from_phone  # short codes and odd senders still get STOP and HELP
    # Plain rows, not ORM objects: this runs for every reply of a 500,000-member blast.
    member = session.execute(
        select(
            Member.id, Member.first_name, Member.last_name, Member.worksite, Member.language,
            Member.is_leader, Member.first_replied_at, Local.number.label("local"),
        )
        .outerjoin(Local, Local.id == Member.local_id)
        .where(Member.phone == phone)
    ).first()  # fmt: skip
    contact_id = None if member else _contact_id(session, phone, now)
    campaign = (
        attribute_campaign(session, member.id, now, policy.attribution_window) if member else None
    )
    decision = _classify(session, message, phone, member, contact_id, campaign, policy, now, client)
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == inbound_id)
        .values(
            member_id=member.id if member else None,
            contact_id=contact_id,
            campaign_id=campaign.id if campaign else None,
            conversation_id=decision.conversation_id,
            keyword=decision.keyword,
            classification=decision.classification.value,
            reply_body=decision.reply,
            processed_at=now,
        )
    )
    replied = decision.classification in CONVERSATIONAL
    if member is not None and replied and member.first_replied_at is None:
        mark(session, [member.id], Step.REPLIED, now)
    log.info("inbound %s (member %s, campaign %s): %s", inbound_id, member.id if member else None,
             campaign.id if campaign else None, decision.classification.value)  # fmt: skip
    return decision


def reprocess_stored(
    sessions, policy: ReplyPolicy, now: datetime, client: redis.Redis | None,
    older_than: timedelta = timedelta(seconds=30), limit: int = 500,
) -> int:  # fmt: skip
    """Act on replies whose first processing failed; they were stored, so none is lost."""
    with sessions() as session:
        ids = session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.processed_at.is_(None), InboundMessage.created_at < now - older_than
            )
            .order_by(InboundMessage.id)
            .limit(limit)
        ).all()
    done = 0
    for inbound_id in ids:
        try:
            with sessions.begin() as session:
                process_inbound(session, inbound_id, policy, now, client)
            done += 1
        except Exception:
            # One bad message must not stop the others; it stays unprocessed for next time.
            log.exception("inbound %s: reprocessing failed", inbound_id)
    return done
