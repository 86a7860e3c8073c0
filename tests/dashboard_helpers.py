"""Builders for dashboard tests: campaigns, texts, replies and outcomes as rows, made by hand."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from textbank.models import Campaign, InboundMessage, OutboundMessage, Outcome

_sids = itertools.count()


def add_campaign(session, name: str = "GOTV Nov 3") -> Campaign:
    campaign = Campaign(name=name, kind="gotv", message="hi", status="sending")
    session.add(campaign)
    session.flush()
    return campaign


def add_text(session, campaign, member, status, error_code=None, **times) -> OutboundMessage:
    # Twilio gave it a SID unless it refused it outright (a 2xxxx error, or never sent).
    accepted = status in ("sent", "delivered", "undelivered") or (
        status == "failed" and (error_code or 0) >= 30000
    )
    row = OutboundMessage(campaign_id=campaign.id, member_id=member.id, phone=member.phone,
                          body="hi", language="en", status=status, error_code=error_code,
                          twilio_sid=f"SM{next(_sids):032x}" if accepted else None,
                          **times)  # fmt: skip
    session.add(row)
    return row


def add_reply(session, campaign, member, classification, at=None, body="yes") -> None:
    """A member's text (member None: a number that is not a member's)."""
    session.add(InboundMessage(
        twilio_sid=f"SM{next(_sids):032x}", from_phone=member.phone if member else "+15005550009",
        member_id=member.id if member else None, body=body, campaign_id=campaign.id,
        classification=classification, created_at=at or datetime.now(UTC)))  # fmt: skip


def add_outcome(session, campaign, member, name, at=None) -> None:
    session.add(Outcome(member_id=member.id, campaign_id=campaign.id, name=name, source="api",
                        created_at=at or datetime.now(UTC)))  # fmt: skip
