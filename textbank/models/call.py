"""The calls of voice campaigns, their recordings, and the phones that asked not to be called."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from textbank.models.base import Base, UTCDateTime, utcnow
from textbank.twilio.codes import CallStatus


class Call(Base):
    """One member of one voice campaign: the unit of calling exactly once per attempt.

    `attempts` counts claims (each claim is one attempt, named in its callback URLs);
    `placements` counts calls Twilio actually created, which the retry policy limits.
    """

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("campaign_id", "member_id"),
        Index("ix_calls_campaign_status", "campaign_id", "status", "id"),
        Index("ix_calls_phone", "phone"),
        Index("ix_calls_member_created", "member_id", "created_at"),  # a member's timeline
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.PENDING)
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    placements: Mapped[int] = mapped_column(default=0)
    twilio_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    twilio_status: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(24))
    digits: Mapped[str | None] = mapped_column(String(8))
    voicemail_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[int] = mapped_column(default=0)  # billed talk time over every placement
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CallOptOut(Base):
    """A phone that pressed 9 (or was put on the do-not-call list): never called again."""

    __tablename__ = "call_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallRecording(Base):
    """An uploaded recording of a campaign's script (or voicemail) in one language."""

    __tablename__ = "call_recordings"
    __table_args__ = (UniqueConstraint("campaign_id", "language", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    part: Mapped[str] = mapped_column(String(16))  # script | voicemail
    content_type: Mapped[str] = mapped_column(String(32))
    token: Mapped[str] = mapped_column(String(43), unique=True)  # in the public URL Twilio fetches
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
