"""Replies: inbound texts, contacts, conversations, outcomes and the opt-out ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from textbank.models.base import Base, UTCDateTime, utcnow


class Classification(StrEnum):
    """What an inbound text turned out to be."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    KEYWORD = "keyword"
    STATS = "stats"
    CONVERSATION = "conversation"


class ConversationStatus(StrEnum):
    OPEN = "open"  # waiting for a volunteer
    CLOSED = "closed"


class OutcomeSource(StrEnum):
    SMS_KEYWORD = "sms_keyword"
    VOICE = "voice"
    VOLUNTEER_TAG = "volunteer_tag"
    PHONE_BANK = "phone_bank"
    EVENT = "event"
    API = "api"


VOLUNTEER_OUTCOME = "volunteer"  # the one outcome that is a sign-up; every other is an action


class Contact(Base):
    """Someone who texted us but is not (yet) a member; still subject to STOP and HELP."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """A phone that must not be texted: the current opt-out state, by phone, member or not."""

    __tablename__ = "suppressions"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptOutEvent(Base):
    """The ledger: every opt-out and opt-in, with when, how and the words used."""

    __tablename__ = "opt_out_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))  # opt_out | opt_in
    source: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Why, in the words of whoever recorded it: a suppression list's reason column, or the
    # manager's reason for opting a member back in.
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Conversation(Base):
    """A reply no keyword answered, waiting for a volunteer."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_status_last", "status", "last_message_at"),
        Index("ix_conversations_member_campaign", "member_id", "campaign_id"),
        Index("ix_conversations_contact_campaign", "contact_id", "campaign_id"),
        # One open conversation per person and campaign, however fast they text: replies
        # upsert into it. coalesce: a conversation outside any campaign is one of its own.
        *(
            Index(
                f"uq_conversations_open_{who}",
                who,
                text("coalesce(campaign_id, 0)"),
                unique=True,
                postgresql_where=text(f"status = 'open' AND {who} IS NOT NULL"),
                sqlite_where=text(f"status = 'open' AND {who} IS NOT NULL"),
            )
            for who in ("member_id", "contact_id")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The volunteer working it (None: in the pool), since when, their last answer, the end.
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class InboundMessage(Base):
    """A text a member (or anyone) sent us, stored before it is acted on."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("ix_inbound_messages_member_created", "member_id", "created_at"),
        Index("ix_inbound_messages_campaign", "campaign_id"),
        Index(
            "ix_inbound_messages_unprocessed",
            "created_at",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    twilio_sid: Mapped[str] = mapped_column(String(34), unique=True)
    from_phone: Mapped[str] = mapped_column(String(32))
    to_phone: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    classification: Mapped[str | None] = mapped_column(String(16))
    keyword: Mapped[str | None] = mapped_column(String(64))
    reply_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(300))


class Outcome(Base):
    """An action a member took or a volunteer sign-up, once per member, campaign and name."""

    __tablename__ = "outcomes"
    __table_args__ = (
        Index(
            "uq_outcomes_member_campaign_name",
            "member_id",
            "campaign_id",
            "name",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
            sqlite_where=text("campaign_id IS NOT NULL"),
        ),
        Index("ix_outcomes_campaign_name", "campaign_id", "name"),
        Index("ix_outcomes_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_volunteer(self) -> bool:
        return self.name == VOLUNTEER_OUTCOME
