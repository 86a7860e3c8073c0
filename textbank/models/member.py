"""Locals and the members who belong to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from textbank.models.base import Base, UTCDateTime, utcnow


class OptOutSource(StrEnum):
    """How a member came to be opted out."""

    SMS_KEYWORD = "sms_keyword"
    CARRIER = "carrier"  # Twilio error 21610: the carrier says the handset unsubscribed
    SUPPRESSION_LIST = "suppression_list"
    API = "api"
    VOLUNTEER = "volunteer"
    VOICE = "voice"  # pressed 9 on a call
    CONSOLE = "console"  # a manager, in the browser, with a recorded reason


class Local(Base):
    """A union local, known by its number (e.g. '1199', '2-A')."""

    __tablename__ = "locals"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    """A union member reachable by text; the phone (E.164) identifies them."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    local_id: Mapped[int | None] = mapped_column(ForeignKey("locals.id"), index=True)
    worksite: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(32), default="active")
    is_leader: Mapped[bool] = mapped_column(default=False, server_default="0")
    # The member's id in the system the list came from (VANID, Action Network, the union's).
    external_id: Mapped[str | None] = mapped_column(String(64))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out_source: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set by database triggers (migration 0014) when the member is added, or changes in a
    # way that can put them in an audience: "Text new members" looks for them by it. NULL:
    # unchanged since before any campaign launched.
    audience_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # First time each engagement step happened, across all campaigns: the per-local
    # report counts these in one pass instead of joining millions of messages.
    first_texted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_volunteered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    local: Mapped[Local | None] = relationship(lazy="joined")
    tag_rows: Mapped[list[MemberTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MemberTag.tag"
    )

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


# A local's members by id, from the index alone (reports filtered to one local).
Index("ix_members_local_member", Member.local_id, Member.id)


class MemberTag(Base):
    """One tag on one member; a table of its own so audiences can filter by tag."""

    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_tag", "tag", "member_id"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)


class MemberCount(Base):
    """Members per local and how many reached each engagement first, kept by database
    triggers (migration 0013). Sum over shard: each PostgreSQL backend writes rows of its
    own, so writers never wait on each other. local_key is the local's id, 0 for none."""

    __tablename__ = "member_counts"

    local_key: Mapped[int] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    members: Mapped[int] = mapped_column(BigInteger)
    texted: Mapped[int] = mapped_column(BigInteger)
    delivered: Mapped[int] = mapped_column(BigInteger)
    failed: Mapped[int] = mapped_column(BigInteger)
    replied: Mapped[int] = mapped_column(BigInteger)
    acted: Mapped[int] = mapped_column(BigInteger)
    volunteered: Mapped[int] = mapped_column(BigInteger)
    opted_out: Mapped[int] = mapped_column(BigInteger)
