"""Campaigns: create and check them, pause and resume, count how a blast is going."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import distinct, func, select, union
from sqlalchemy.orm import Session

from textbank.calls.script import ScriptError, validate_voice
from textbank.calls.stats import call_progress, voice_campaign_stats
from textbank.campaigns.audience import audience_size, normalize_audience
from textbank.campaigns.counts import message_counts
from textbank.campaigns.p2p import P2PError, console_to_dict, validate_console
from textbank.campaigns.rendering import TemplateError, check_template, measure, render
from textbank.members.fields import FieldError, normalize_language
from textbank.models import (
    VOLUNTEER_OUTCOME,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    InboundMessage,
    OutboundMessage,
    Outcome,
    is_first_text,
)
from textbank.replies.keywords import fold
from textbank.reports.measures import CONVERSATIONAL, campaign_opt_outs
from textbank.twilio.codes import UNFINISHED, MessageStatus

_OUTCOME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SAMPLE_MEMBER = {
    "first_name": "Guadalupe",
    "last_name": "Fitzgerald",
    "local": "Local 1199",
    "worksite": "Boston Medical Center",
}


class CampaignError(ValueError):
    """A campaign that cannot be created or changed; the message says why."""


def _choice(value: object, enum: type[StrEnum], field: str) -> str:
    try:
        return enum(str(value)).value
    except ValueError as exc:
        allowed = ", ".join(e.value for e in enum)
        raise CampaignError(f"{field} must be one of {allowed}, got {value!r}") from exc


def _template(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise CampaignError(f"{field} must be text")
    try:
        check_template(value)
    except TemplateError as exc:
        raise CampaignError(f"{field}: {exc}") from exc
    return value


def _text_map(value: object, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CampaignError(f"{field} must be an object")
    return value


def validate_campaign(data: Mapping, org_name: str = "textbank") -> dict:
    """Check a campaign definition; return it normalised or raise CampaignError naming the field."""
    if not isinstance(data, Mapping):
        raise CampaignError("send a JSON object describing the campaign")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CampaignError("name is required")
    if len(name) > 200:
        raise CampaignError("name is longer than 200 characters")
    translations = {}
    for lang, text in _text_map(data.get("translations"), "translations").items():
        try:
            code = normalize_language(lang)
        except FieldError as exc:
            raise CampaignError(f"translations: {exc}") from exc
        translations[code] = _template(text, f"translations.{code}")
    try:
        audience = normalize_audience(data.get("audience"))
    except FieldError as exc:
        raise CampaignError(str(exc)) from exc
    keywords = {}
    for word, outcome in _text_map(data.get("keywords"), "keywords").items():
        key = fold(str(word))
        if not key:
            raise CampaignError(f"keywords: {word!r} has no letters or digits")
        if not isinstance(outcome, str) or not _OUTCOME_RE.match(outcome):
            raise CampaignError(
                f"keywords.{word}: the outcome must be a name like pledged_to_vote, got {outcome!r}"
            )
        keywords[key] = outcome
    replies: dict[str, str | dict[str, str]] = {}
    for outcome, reply in _text_map(data.get("replies"), "replies").items():
        if outcome not in keywords.values():
            raise CampaignError(f"replies.{outcome}: no keyword records this outcome")
        if isinstance(reply, dict):
            replies[outcome] = {
                normalize_language(lang): _template(text, f"replies.{outcome}.{lang}")
                for lang, text in reply.items()
            }
        else:
            replies[outcome] = _template(reply, f"replies.{outcome}")
    channel = _choice(data.get("channel", "sms"), Channel, "channel")
    message = _template(data.get("message"), "message")
    voice = None
    if channel == Channel.VOICE:
        try:
            voice = validate_voice(data.get("voice"), {"": message, **translations}, org_name)
        except (ScriptError, FieldError) as exc:
            raise CampaignError(str(exc)) from exc
    elif data.get("voice") is not None:
        raise CampaignError('voice is only for campaigns with "channel": "voice"')
    try:
        console = validate_console(data)
    except P2PError as exc:
        raise CampaignError(str(exc)) from exc
    return {
        **console,
        "name": name.strip(),
        "kind": _choice(data.get("kind"), CampaignKind, "kind"),
        "channel": channel,
        "message": message,
        "translations": translations,
        "audience": audience,
        "keywords": keywords,
        "replies": replies,
        "goals": validate_goals(data.get("goals")),
        "voice": voice,
    }


GOALS = ("conversation", "action", "activist")


def validate_goals(value: object) -> dict[str, float]:
    """Shares of the audience aimed for, each above 0 and at most 1; missing ones default."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CampaignError('goals must be an object like {"action": 0.5}')
    out = {}
    for name, share in value.items():
        if name not in GOALS:
            raise CampaignError(f"goals.{name}: use {', '.join(GOALS)}")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise CampaignError(f"goals.{name} must be a share above 0 and at most 1, like 0.5")
        out[name] = float(share)
    return out


def describe_audience(audience: dict[str, list[str]]) -> str:
    parts = [
        "local leaders" if key == "leaders" else f"{key} {', '.join(values)}"
        for key, values in audience.items()
        if values
    ]
    return "; ".join(parts) or "all members"


def check_audience(session: Session, audience: dict[str, list[str]]) -> None:
    """Refuse an audience that could text nobody, naming the filters."""
    matched, opted_out = audience_size(session, audience)
    if matched == 0:
        raise CampaignError(
            f"the audience is empty: no member matches {describe_audience(audience)}"
        )
    if matched == opted_out:
        raise CampaignError(f"all {matched} members in the audience have opted out")


def create_campaign(session: Session, data: Mapping, org_name: str = "textbank") -> Campaign:
    """Create a draft campaign; refuse one whose audience matches nobody textable."""
    values = validate_campaign(data, org_name)
    check_audience(session, values["audience"])
    campaign = Campaign(**values, status=CampaignStatus.DRAFT)
    session.add(campaign)
    session.flush()
    return campaign


def preview(campaign: Campaign) -> dict:
    """Each language's message rendered for a sample member, with encoding and segments."""
    out = {}
    for lang, template in {"default": campaign.message, **campaign.translations}.items():
        text = render(template, SAMPLE_MEMBER)
        info = measure(text)
        out[lang] = {"text": text, "encoding": info.encoding.value, "segments": info.segments}
    return out


def campaign_to_dict(campaign: Campaign) -> dict:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "channel": campaign.channel,
        "message": campaign.message,
        "translations": campaign.translations,
        "audience": campaign.audience,
        "keywords": campaign.keywords,
        "replies": campaign.replies,
        "goals": campaign.goals or {},
        "voice": campaign.voice,
        **console_to_dict(campaign),
        "status": campaign.status,
        "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        "archived_at": campaign.archived_at.isoformat() if campaign.archived_at else None,
        "created_at": campaign.created_at.isoformat(),
        "launched_at": campaign.launched_at.isoformat() if campaign.launched_at else None,
        "completed_at": campaign.completed_at.isoformat() if campaign.completed_at else None,
        "preview": preview(campaign),
    }


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    return campaign


def status_counts(
    session: Session, campaign_id: int, among: tuple[str, ...] | None = None
) -> dict[str, int]:
    """Rows of the campaign per status; only the statuses `among` when given."""
    # First texts only: a volunteer's replies in a conversation are not the audience.
    query = select(OutboundMessage.status, func.count()).where(
        OutboundMessage.campaign_id == campaign_id, is_first_text(OutboundMessage)
    )
    if among is not None:
        query = query.where(OutboundMessage.status.in_(among))
    return dict(session.execute(query.group_by(OutboundMessage.status)).all())


@dataclass(frozen=True)
class Progress:
    status: str
    in_flight: int  # waiting to be sent now, or being sent
    deferred: int  # waiting for the member's send window


def progress(session: Session, campaign_id: int) -> Progress:
    """Where a blast stands, for someone watching it: cheap enough to ask every second.

    Counts only the unfinished rows (an index range that shrinks as the blast goes), where
    the full stats walk every row of the campaign: at 500,000 members that is a tenth of
    a second of the database's time on each refresh of a progress bar.
    """
    found = session.execute(
        select(Campaign.status, Campaign.channel).where(Campaign.id == campaign_id)
    ).first()
    if found is None:
        raise LookupError(f"no campaign {campaign_id}")
    status, channel = found
    if channel == Channel.VOICE:
        return Progress(status, *call_progress(session, campaign_id))
    counts = status_counts(session, campaign_id, among=UNFINISHED)
    return Progress(
        status,
        counts.get(MessageStatus.PENDING, 0) + counts.get(MessageStatus.SENDING, 0),
        counts.get(MessageStatus.DEFERRED, 0),
    )


def snapshot_progress(campaign: Campaign) -> dict:
    """How far the launch's audience snapshot got: members examined of the audience's size."""
    return {
        "done": campaign.snapshot_done or 0,
        "total": campaign.audience_size,
        "finished": campaign.snapshotted_at is not None,
    }


def campaign_stats(session: Session, campaign: Campaign) -> dict:
    """The contract's stats: where every member of the blast stands."""
    counts = message_counts(session, [campaign.id])[campaign.id]
    if campaign.channel == Channel.VOICE:
        return {**reply_stats(session, campaign), **voice_campaign_stats(session, campaign),
                "snapshot": snapshot_progress(campaign)}  # fmt: skip
    return {
        "status": campaign.status,
        "audience": counts.total
        + campaign.skipped_opted_out
        + campaign.skipped_invalid
        + campaign.skipped_duplicate,
        "members": counts.total,  # as in the per-campaign report: the texts its launch wrote
        "queued": counts.queued,
        # Sent means Twilio accepted it (it has a SID), whatever the carrier did next.
        "sent": counts.sent,
        "delivered": counts.delivered,
        "failed": counts.failed,
        "deferred": counts.deferred,
        "skipped": {
            "opted_out": campaign.skipped_opted_out + counts.of(MessageStatus.SKIPPED),
            "invalid": campaign.skipped_invalid,
            "duplicate": campaign.skipped_duplicate,
        },
        "segments": counts.segments,
        "snapshot": snapshot_progress(campaign),
        **reply_stats(session, campaign),
    }


def reply_stats(session: Session, campaign: Campaign) -> dict:
    """Who answered this campaign, acted on it, volunteered, or opted out in answer to it."""
    replied = session.scalar(
        select(func.count(distinct(InboundMessage.member_id))).where(
            InboundMessage.campaign_id == campaign.id,
            InboundMessage.classification.in_(CONVERSATIONAL),
        )
    )
    opted_out = session.scalar(
        select(func.count()).select_from(
            union(
                select(InboundMessage.member_id).where(
                    InboundMessage.campaign_id == campaign.id, *campaign_opt_outs(InboundMessage)
                ),
                select(OutboundMessage.member_id).where(
                    OutboundMessage.campaign_id == campaign.id, *campaign_opt_outs(OutboundMessage)
                ),
            ).subquery()
        )
    )
    by_outcome = dict(
        session.execute(
            select(Outcome.name, func.count(distinct(Outcome.member_id)))
            .where(Outcome.campaign_id == campaign.id)
            .group_by(Outcome.name)
        ).all()
    )
    volunteers = by_outcome.pop(VOLUNTEER_OUTCOME, 0)
    return {
        "replied": replied,
        "opted_out": opted_out,
        "volunteers": volunteers,
        "actions": by_outcome,
    }


def set_paused(session: Session, campaign: Campaign, paused: bool) -> None:
    """Pause a sending campaign, or resume a paused one."""
    if paused:
        if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.LAUNCHING):
            raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not sending")
        campaign.status = CampaignStatus.PAUSED
    else:
        if campaign.status != CampaignStatus.PAUSED:
            raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not paused")
        campaign.status = CampaignStatus.SENDING
