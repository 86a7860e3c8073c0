"""The manager console's records: audit events, account links, uploads, confirmation texts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from textbank.models.base import Base, UTCDateTime, utcnow


class LinkKind(StrEnum):
    """What a one-time link does when it is opened."""

    INVITE = "invite"  # creates the account and lets its owner set a password
    RESET = "reset"  # sets a new password for an existing account
    SIGNIN = "signin"  # signs a volunteer in once, texted to their phone


class UploadKind(StrEnum):
    MEMBERS = "members"
    SUPPRESSION = "suppression"


class UploadStatus(StrEnum):
    MAPPING = "mapping"  # uploaded; the manager has not confirmed the columns yet
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AuditEvent(Base):
    """Who did what to whom in the console or the API: launches, pauses, roles, opt-outs."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254))  # the email then, kept if the user goes
    action: Mapped[str] = mapped_column(String(48), index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AccountLink(Base):
    """A one-time link (invite, password reset, texted sign-in); only its hash is kept."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Upload(Base):
    """A file a manager uploaded in the browser, imported by a job that reports progress."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255), default="")
    # The file is in upload_parts until it is imported; this is how its bytes are read.
    encoding: Mapped[str | None] = mapped_column(String(16))
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)  # column header -> field
    status: Mapped[str] = mapped_column(String(16), default=UploadStatus.MAPPING)
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int] = mapped_column(default=0)  # the file's line breaks: rows at most
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UploadPart(Base):
    """256 KiB of an uploaded file, written and read a part at a time, deleted once imported."""

    __tablename__ = "upload_parts"

    upload_id: Mapped[int] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ConfirmationText(Base):
    """An organization's own wording of a STOP, START or HELP answer in one language."""

    __tablename__ = "confirmation_texts"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # opt_out | opt_in | help
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
