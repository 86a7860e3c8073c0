"""People who sign in (users) and the API tokens they hold."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from textbank.models.base import Base, UTCDateTime, utcnow


class Role(StrEnum):
    """What a user may do: admins and managers run campaigns; volunteers text."""

    ADMIN = "admin"
    MANAGER = "manager"
    VOLUNTEER = "volunteer"


class User(Base):
    """A staff member or volunteer with a sign-in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    # Languages a volunteer texts in; their batches prefer members who speak one of them.
    languages: Mapped[list] = mapped_column(JSON, default=lambda: ["en"], server_default='["en"]')
    # Large type in the consoles, for volunteers who read better with it.
    large_type: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A volunteer's own phone, for a texted sign-in link; never a member's.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Sessions signed in before this are over (a password reset, "sign out everywhere").
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256 so a database leak reveals none."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens", lazy="joined")
