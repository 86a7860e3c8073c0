"""All textbank tables, importable from one place for Alembic and the app."""

from textbank.models.base import Base, UTCDateTime, utcnow
from textbank.models.campaign import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    OutboundMessage,
)
from textbank.models.member import Local, Member, MemberTag, OptOutSource
from textbank.models.user import ApiToken, Role, User

__all__ = [
    "ApiToken",
    "Base",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Channel",
    "Local",
    "Member",
    "MemberTag",
    "OptOutSource",
    "OutboundMessage",
    "Role",
    "UTCDateTime",
    "User",
    "utcnow",
]
