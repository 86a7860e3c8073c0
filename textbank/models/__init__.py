"""All textbank tables, importable from one place for Alembic and the app."""

from textbank.models.base import Base, UTCDateTime, table, utcnow
from textbank.models.call import Call, CallOptOut, CallRecording
from textbank.models.campaign import (
    Campaign,
    CampaignKind,
    CampaignMessageCount,
    CampaignMode,
    CampaignStatus,
    Channel,
    DigestSchedule,
    OutboundMessage,
)
from textbank.models.member import Local, Member, MemberTag, OptOutSource
from textbank.models.people import (
    AccountLink,
    AuditEvent,
    ConfirmationText,
    LinkKind,
    Upload,
    UploadKind,
    UploadStatus,
)
from textbank.models.reply import (
    VOLUNTEER_OUTCOME,
    Classification,
    Contact,
    Conversation,
    ConversationStatus,
    InboundMessage,
    OptOutEvent,
    Outcome,
    OutcomeSource,
    Suppression,
)
from textbank.models.user import ApiToken, Role, User

__all__ = [
    "VOLUNTEER_OUTCOME",
    "AccountLink",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Call",
    "CallOptOut",
    "CallRecording",
    "Campaign",
    "CampaignKind",
    "CampaignMessageCount",
    "CampaignMode",
    "CampaignStatus",
    "Channel",
    "Classification",
    "ConfirmationText",
    "Contact",
    "Conversation",
    "ConversationStatus",
    "DigestSchedule",
    "InboundMessage",
    "LinkKind",
    "Local",
    "Member",
    "MemberTag",
    "OptOutEvent",
    "OptOutSource",
    "OutboundMessage",
    "Outcome",
    "OutcomeSource",
    "Role",
    "Suppression",
    "UTCDateTime",
    "Upload",
    "UploadKind",
    "UploadStatus",
    "User",
    "table",
    "utcnow",
]
