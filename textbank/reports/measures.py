"""What each count means: the one definition every page, export and query refers to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_

from textbank.models import Classification, InboundMessage, OutboundMessage
from textbank.twilio.codes import UNSUBSCRIBED


@dataclass(frozen=True)
class Measure:
    label: str
    definition: str
    short: str = ""  # the same, for one campaign, in a line under its count

    @property
    def for_campaign(self) -> str:
        return self.short or self.definition


# Replies that are a conversation. STOP, START, HELP and a leader's STATS are not: a
# follow-up once showed a 100% conversation rate with two opt-outs among eight replies.
CONVERSATIONAL: tuple[str, ...] = (Classification.KEYWORD, Classification.CONVERSATION)
# How a campaign's texts can draw an opt-out: the member texts an opt-out word back, or the
# carrier answers the campaign's text with "unsubscribed" (Twilio error 21610).
OPT_OUT_REPLY = Classification.OPT_OUT
OPT_OUT_ERROR = UNSUBSCRIBED

MEASURES: dict[str, Measure] = {
    "members": Measure(
        "Members",
        "By local: members on file. For a campaign: the members its launch set out to reach "
        "(text or call: its audience minus those skipped); each member counts once.",
        "The audience minus those skipped.",
    ),
    "texted": Measure(
        "Texted",
        "Members Twilio accepted a text for (the text has a message id), whatever the "
        "carrier did next.",
        "Accepted by Twilio, whatever the carrier did next.",
    ),
    "delivered": Measure("Delivered", "Members whose carrier confirmed a text delivered."),
    "failed": Measure(
        "Not delivered",
        "Members whose text ended undelivered or failed; the delivery errors say why.",
        "Undelivered or failed; the errors below say why.",
    ),
    "replied": Measure(
        "Replied",
        "Members who answered with a keyword (YES, SIGN, …) or words of their own. "
        "STOP, START, HELP and STATS are not replies.",
        "A keyword or words of their own; not STOP or HELP.",
    ),
    "acted": Measure(
        "Acted",
        "Members with an outcome other than volunteering: a keyword such as YES, a "
        "volunteer's tag, a phone-bank or event result.",
        "Members with an outcome other than volunteering.",
    ),
    "volunteers": Measure("Volunteered", "Members who signed up to volunteer."),
    "opted_out": Measure(
        "Opted out",
        "By local: members opted out now. For a campaign: members who opted out in answer "
        "to it (texted STOP or another opt-out word back, asked a volunteer in its "
        "conversation, or their carrier reported them "
        "unsubscribed when it texted them). A later START does not take them off a "
        "campaign's count; members already opted out at launch are counted as skipped.",
        "In answer to this campaign; a later START still counts.",
    ),
    "queued": Measure("Queued", "Texts waiting to be sent now, or being sent."),
    "deferred": Measure(
        "Deferred",
        "Texts held until the member's own morning: outside the send window in their "
        "time zone. They go by themselves when it opens.",
        "Held for the member's morning; they go by themselves.",
    ),
    "skipped": Measure(
        "Skipped",
        "Audience members not texted: already opted out, an unusable phone, or a phone "
        "another member of the audience already has.",
        "Already opted out, or no usable phone.",
    ),
    "replies_waiting": Measure(
        "Replies waiting", "Conversations from this campaign waiting for a volunteer."
    ),
    "segments": Measure(
        "Segments", "What carriers bill: a long text, or one with accents, is several."
    ),
    # A peer-to-peer campaign's first texts before a volunteer sends them.
    "p2p_waiting": Measure(
        "Waiting for a volunteer",
        "First texts of a peer-to-peer campaign in no volunteer's batch yet.",
    ),
    "p2p_in_batches": Measure(
        "In volunteers' batches",
        "First texts a volunteer has taken in a batch and not sent yet; Done for today, or "
        "a release by a manager, puts them back.",
    ),
    # A voice campaign's calls (its members count as texted once called, and as delivered
    # once reached, in person or by voicemail, in the measures above).
    "calls_placed": Measure(
        "Calls placed",
        "Calls Twilio created, each attempt counted: a member called again after no answer "
        "counts twice.",
        "Each attempt counted; a retry after no answer counts again.",
    ),
    "calls_answered": Measure(
        "Answered by a person",
        "Calls a person picked up (not an answering machine); they heard the script.",
        "A person picked up and heard the script.",
    ),
    "voicemails": Measure(
        "Voicemail left",
        "Calls an answering machine took: the voicemail message played after the beep. "
        "Never called again.",
        "The message played after the beep; never retried.",
    ),
    "calls_pressed": Measure(
        "Pressed a key",
        "Members who pressed a menu key for an outcome (1 to volunteer, …), each member "
        "once per outcome.",
        "Each member once per outcome.",
    ),
    "calls_opted_out": Measure(
        "Opted out (pressed 9)",
        "Calls where the member pressed 9: never called again (and, unless the organization "
        "set otherwise, never texted).",
        "Never called again.",
    ),
    "calls_no_answer": Measure(
        "No answer",
        "Members whose last call rang out unanswered, with no retry left (a retry still "
        "to come is among the held calls).",
        "Rang out, no retry left.",
    ),
    "calls_busy": Measure(
        "Busy",
        "Members whose last call found the line busy, with no retry left.",
        "Line busy, no retry left.",
    ),
    "calls_failed": Measure(
        "Failed",
        "Members whose last call could not be connected (refused by Twilio or the carrier), "
        "with no retry left.",
        "Could not be connected, no retry left.",
    ),
    "call_minutes": Measure(
        "Minutes",
        "Talk time of every call answered, in person or by a machine, added up in minutes.",
        "Talk time, in person or by a machine.",
    ),
    "calls_queued": Measure(
        "Calling",
        "Calls waiting to be placed now, ringing, or in progress.",
    ),
    "calls_deferred": Measure(
        "Held",
        "Calls held until the member's own window opens in their time zone, or until a "
        "retry is due. They go by themselves.",
        "Held for the member's window or a retry; they go by themselves.",
    ),
    "calls_skipped": Measure(
        "Skipped",
        "Audience members not called: already opted out (of texts, or of calls by pressing "
        "9), an unusable phone, or a phone another member of the audience already has.",
        "Already opted out, or no usable phone.",
    ),
    "conversation_rate": Measure("Conversation rate", "Replied as a share of members."),
    "action_rate": Measure("Action rate", "Acted as a share of members."),
    "activist_rate": Measure("Activist rate", "Volunteered as a share of members."),
}


def campaign_opt_outs(table: type[InboundMessage] | type[OutboundMessage]) -> list:
    """WHERE clauses of the replies, or texts, that are an opt-out in answer to a campaign.

    The texts' error code finds them through the index of failed texts, compliance texts
    through their own.
    """
    if table is InboundMessage:
        return [
            InboundMessage.classification == OPT_OUT_REPLY,
            InboundMessage.member_id.is_not(None),
        ]
    # A volunteer's Opt out in the campaign's conversation leaves its confirmation, a
    # compliance text (OutboundMessage.compliance), among the campaign's texts.
    return [or_(OutboundMessage.error_code == OPT_OUT_ERROR, OutboundMessage.compliance)]


def definition(name: str) -> str:
    return MEASURES[name].definition
