"""Twilio's message statuses and error codes, mapped once for the whole app."""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """Where one outbound text stands; statuses only move forward (see RANK)."""

    HELD = "held"  # a P2P first text: waits for a volunteer's Send, never sent by a worker
    PENDING = "pending"  # snapshotted at launch, waiting for a worker
    DEFERRED = "deferred"  # outside the member's send window; send_after says when
    SENDING = "sending"  # claimed by a worker; the request may be in flight
    SENT = "sent"  # Twilio accepted it (queued/accepted/sending/sent)
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # refused by Twilio or failed at the carrier
    SKIPPED = "skipped"  # never sent: the member opted out before their turn


RANK = {
    MessageStatus.HELD: 0,
    MessageStatus.PENDING: 0,
    MessageStatus.DEFERRED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.SKIPPED: 3,
}
WAITING = (MessageStatus.PENDING, MessageStatus.DEFERRED)
# HELD is unfinished: a P2P campaign is not done while first texts wait for volunteers.
UNFINISHED = (
    MessageStatus.HELD, MessageStatus.PENDING, MessageStatus.DEFERRED, MessageStatus.SENDING
)  # fmt: skip
NOT_DELIVERED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)


def lower_ranked(status: MessageStatus) -> tuple[MessageStatus, ...]:
    """Statuses a row may move from to reach `status` (strictly lower rank)."""
    return tuple(s for s, r in RANK.items() if r < RANK[status])


# Twilio's MessageStatus values (REST answers and status callbacks) -> ours.
TWILIO_STATUS = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}

UNSUBSCRIBED = 21610  # the handset replied STOP to Twilio: never text it again

# What an error code means, in words a campaign manager can act on.
ERROR_MEANINGS = {
    21211: "Not a valid phone number",
    21408: "Sending to this region is not enabled on the account",
    21610: "The member unsubscribed (replied STOP to the carrier)",
    21612: "The carrier cannot route to this number",
    21614: "Not a mobile number (landline or unreachable)",
    21617: "The message is too long",
    30001: "Twilio's queue overflowed; sent too fast",
    30002: "The Twilio account is suspended",
    30003: "The phone is off or out of coverage",
    30004: "The member or their carrier blocked the message",
    30005: "The number does not exist or is no longer in service",
    30006: "A landline or a carrier that cannot take texts",
    30007: "Filtered by the carrier as spam (check 10DLC registration and wording)",
    30008: "Unknown error at the carrier",
    30034: "The sender number is not registered for A2P 10DLC",
    20429: "Too many requests to Twilio at once",
    20500: "Twilio had an internal error",
}


def error_meaning(code: int | None) -> str:
    if code is None:
        return "No error code"
    return ERROR_MEANINGS.get(code, f"Twilio error {code}")


def is_transient_http(status: int | None) -> bool:
    """Worth retrying: throttled, or Twilio's side failed (5xx); anything else 4xx is final."""
    return status is None or status == 429 or status >= 500


class CallStatus(StrEnum):
    """Where one call of a voice campaign stands; only moves forward (see CALL_RANK)."""

    PENDING = "pending"  # snapshotted, waiting for a worker
    DEFERRED = "deferred"  # outside the window, or waiting to retry; send_after says when
    PLACING = "placing"  # claimed; the create request may be in flight (or its outcome unknown)
    QUEUED = "queued"  # Twilio created the call (initiated)
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"  # answered, by a person or a machine
    COMPLETED = "completed"  # answered and ended; answered_by says by whom
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"  # never placed: opted out before their turn


CALL_RANK = {
    CallStatus.PENDING: 0,
    CallStatus.DEFERRED: 0,
    CallStatus.PLACING: 1,
    CallStatus.QUEUED: 2,
    CallStatus.RINGING: 3,
    CallStatus.IN_PROGRESS: 4,
    CallStatus.COMPLETED: 5,
    CallStatus.NO_ANSWER: 5,
    CallStatus.BUSY: 5,
    CallStatus.FAILED: 5,
    CallStatus.CANCELED: 5,
    CallStatus.SKIPPED: 5,
}
CALL_WAITING = (CallStatus.PENDING, CallStatus.DEFERRED)
CALL_LIVE = (CallStatus.PLACING, CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
CALL_UNFINISHED = CALL_WAITING + CALL_LIVE
CALL_ENDED = tuple(s for s, r in CALL_RANK.items() if r == 5)
# Ends that a campaign's retry policy may try again; a voicemail (completed) never is.
CALL_RETRYABLE = (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED)

# Twilio's CallStatus values (REST answers and status callbacks) -> ours.
TWILIO_CALL_STATUS = {
    "queued": CallStatus.QUEUED,
    "initiated": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}

# AnsweredBy values from MachineDetection=DetectMessageEnd: these reached a recorder.
MACHINE_ANSWERS = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
FAX_ANSWER = "fax"


def call_lower_ranked(status: CallStatus) -> tuple[CallStatus, ...]:
    """Live statuses a call may move from to reach `status` (strictly lower rank, claimed)."""
    return tuple(s for s in CALL_LIVE if CALL_RANK[s] < CALL_RANK[status])
