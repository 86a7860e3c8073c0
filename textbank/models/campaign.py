"""Campaigns and the outbound messages a launch snapshots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from textbank.models.base import Base, UTCDateTime, utcnow
from textbank.twilio.codes import MessageStatus

# The rows of outbound_messages that are a campaign's first texts, in SQL (see is_first_text).
FIRST_TEXT = "conversation_id IS NULL AND inbound_message_id IS NULL"


class CampaignKind(StrEnum):
    GOTV = "gotv"
    PETITION = "petition"
    VOLUNTEER = "volunteer"
    SURVEY = "survey"
    DIGEST = "digest"  # engagement counts texted to local leaders on a schedule


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    LAUNCHING = "launching"  # the audience snapshot is being written
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"


class CampaignMode(StrEnum):
    BLAST = "blast"  # workers text the whole audience
    P2P = "p2p"  # each first text waits for a volunteer's Send


class Campaign(Base):
    """A blast: a script, an audience, keywords and the replies to them."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8), default=Channel.SMS)
    mode: Mapped[str] = mapped_column(String(8), default=CampaignMode.BLAST, server_default="blast")
    message: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict] = mapped_column(JSON, default=dict)
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    keywords: Mapped[dict] = mapped_column(JSON, default=dict)
    replies: Mapped[dict] = mapped_column(JSON, default=dict)
    # Shares of the audience the organizers aim for: conversations, actions, activists.
    goals: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # Voice campaigns: the menu, voicemail, voices, call-back number and retry policy.
    voice: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The launch snapshot walks members by id; this is how far it got (resumable).
    snapshot_cursor: Mapped[int] = mapped_column(default=0)
    # "Text new members": the snapshot walks again over the audience's members changed
    # since this time (see campaigns.audience.not_yet_reached).
    topup_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Members in the audience when the snapshot began; None until the launch job counts them.
    audience_size: Mapped[int | None]
    snapshot_done: Mapped[int] = mapped_column(default=0, server_default="0")  # members examined
    # When the snapshot finished: until then a launch job (or the sweeper) carries it on.
    snapshotted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    skipped_opted_out: Mapped[int] = mapped_column(default=0)
    skipped_invalid: Mapped[int] = mapped_column(default=0)
    skipped_duplicate: Mapped[int] = mapped_column(default=0)
    # When a scheduled launch is due; a draft with one shows as scheduled.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The volunteer console: canned answers [{"title", "text": {lang: text}}], an optional
    # survey {"question", "answers": [{"label", "outcome", "next"}]}, first texts per batch,
    # minutes an unanswered conversation stays with its volunteer, and whether volunteers
    # may answer a blast's replies (a P2P campaign's always go to volunteers).
    canned_responses: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    survey: Mapped[dict | None] = mapped_column(JSON)
    batch_size: Mapped[int] = mapped_column(default=200, server_default="200")
    reclaim_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    volunteer_replies: Mapped[bool] = mapped_column(default=False, server_default="0")


class CampaignMessageCount(Base):
    """How many of a campaign's texts are in each status, kept by database triggers.

    Sum over shard (each PostgreSQL backend writes its own rows, so writers never wait on
    each other); `sent` splits texts Twilio accepted (they have a SID) from the rest.
    """

    __tablename__ = "campaign_message_counts"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    sent: Mapped[bool] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    segments: Mapped[int] = mapped_column(BigInteger)


class DigestSchedule(Base):
    """A daily or weekly text of their local's counts to every local's leaders."""

    __tablename__ = "digest_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    frequency: Mapped[str] = mapped_column(String(8))  # daily | weekly
    weekday: Mapped[int | None]  # 0 = Monday, for weekly digests
    hour: Mapped[int] = mapped_column(default=9)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboundMessage(Base):
    """One text to one member for one campaign: the unit of exactly-once sending."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_campaign_status", "campaign_id", "status", "id"),
        Index("ix_outbound_messages_member_created", "member_id", "created_at"),
        # A campaign's first text to a member is unique; a volunteer's replies in a
        # conversation and a keyword's thanks are rows of their own (see FIRST_TEXT).
        Index(
            "uq_outbound_messages_first_text",
            "campaign_id",
            "member_id",
            unique=True,
            postgresql_where=text(FIRST_TEXT),
            sqlite_where=text(FIRST_TEXT),
        ),
        # P2P: the pool of first texts no volunteer holds yet, by language.
        Index(
            "ix_outbound_messages_p2p_pool",
            "campaign_id",
            "language",
            "id",
            postgresql_where=text("status = 'held' AND volunteer_id IS NULL"),
            sqlite_where=text("status = 'held' AND volunteer_id IS NULL"),
        ),
        Index("ix_outbound_messages_volunteer", "volunteer_id", "campaign_id", "status"),
        # Only compliance texts: a campaign's opt-outs taken by volunteers (a few rows).
        Index(
            "ix_outbound_messages_compliance",
            "campaign_id",
            "member_id",
            postgresql_where=text("compliance"),
            sqlite_where=text("compliance"),
        ),
        # Only texts with an error: a campaign's delivery errors and carrier opt-outs.
        Index(
            "ix_outbound_messages_campaign_error",
            "campaign_id",
            "error_code",
            "member_id",
            postgresql_where=text("error_code IS NOT NULL"),
            sqlite_where=text("error_code IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.PENDING)
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    twilio_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    twilio_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Start of the last send whose outcome is unknown; no resend before its quarantine ends.
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # P2P: the volunteer holding this first text (or who wrote this reply), and since when.
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The browser's key for one press of Reply: a double press writes one row.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The member's reply this text answers (a keyword's thanks): one answer per reply.
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="CASCADE"), unique=True
    )
    # A compliance text (the confirmation of an opt-out a volunteer recorded) goes to a
    # member who is opted out: the one text the opt-out list lets through, once.
    compliance: Mapped[bool] = mapped_column(default=False, server_default=false())


def is_first_text(t) -> ColumnElement[bool]:
    """A campaign's own text to a member (its audience), on the table or class `t`: not a
    volunteer's reply in a conversation, not the answer to a member's reply."""
    cols = getattr(t, "c", t)  # a Table's columns, or a mapped class's attributes
    return and_(cols.conversation_id.is_(None), cols.inbound_message_id.is_(None))
