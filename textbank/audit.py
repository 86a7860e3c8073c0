"""The audit log: who launched, paused, opted out, invited, changed a role, and when."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank.models import AuditEvent, User, utcnow

log = logging.getLogger(__name__)

# Plain words for each action, as the audit page shows them.
ACTIONS = {
    "campaign.launch": "launched a campaign",
    "campaign.pause": "paused a campaign",
    "campaign.resume": "resumed a campaign",
    "campaign.schedule": "scheduled a campaign's launch",
    "campaign.archive": "archived a campaign",
    "campaign.unarchive": "brought back an archived campaign",
    "campaign.text_new_members": "texted a campaign's new members",
    "member.edit": "edited a member",
    "member.opt_out": "opted a member out",
    "member.opt_in": "opted a member back in",
    "members.import": "imported a member list",
    "optouts.import": "imported a suppression list",
    "local.rename": "renamed a local",
    "local.merge": "merged locals",
    "user.invite": "invited someone",
    "user.join": "accepted an invite",
    "user.role": "changed a role",
    "user.disable": "disabled an account",
    "user.enable": "enabled an account",
    "user.reset_password": "reset a password",
    "token.create": "created an API token",
    "token.revoke": "revoked an API token",
    "confirmations.edit": "changed a STOP/START/HELP answer",
}


def record(
    session: Session, actor: User | str | None, action: str, subject: str = "", **detail
) -> AuditEvent:
    """Add one event to the log in the caller's transaction (it lands with the change)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if isinstance(actor, User):
        actor_id, name = actor.id, actor.email
    else:
        actor_id, name = None, actor or "system"
    event = AuditEvent(
        actor_id=actor_id, actor=name, action=action, subject=subject[:300], detail=detail,
        created_at=utcnow(),
    )  # fmt: skip
    session.add(event)
    log.info("audit: %s %s %s", name, action, subject)
    return event


@dataclass
class AuditPage:
    events: list[AuditEvent]
    next_before: int | None


def events(
    session: Session, *, action: str | None = None, actor: str | None = None,
    before: int | None = None, limit: int = 100,
) -> AuditPage:  # fmt: skip
    """Newest first, `limit` at a time; `before` is the id the previous page ended at."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if before:
        query = query.where(AuditEvent.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more and rows else None)
