"""All textbank tables, importable from one place for Alembic and the app."""

from textbank.models.base import Base, UTCDateTime, utcnow
from textbank.models.member import Local, Member, MemberTag, OptOutSource
from textbank.models.user import ApiToken, Role, User

__all__ = [
    "ApiToken",
    "Base",
    "Local",
    "Member",
    "MemberTag",
    "OptOutSource",
    "Role",
    "UTCDateTime",
    "User",
    "utcnow",
]
