"""The sandbox's in-memory carrier records: messages, calls, unsubscribed numbers, counters."""

from __future__ import annotations

import dataclasses
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"


class CallStatus(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


@dataclass(slots=True)
class Message:
    """One message as the carrier holds it; resources.py turns it into Twilio's JSON."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    direction: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    num_segments: int
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    validity_period: int | None = None
    seq: int = 0  # creation order; list pages and page tokens are positions in it

    def snapshot(self) -> Message:
        # Positional and explicit: dataclasses.replace costs several times more on the hot path.
        return Message(
            self.sid,
            self.account_sid,
            self.to,
            self.from_,
            self.body,
            self.status,
            self.direction,
            self.date_created,
            self.date_updated,
            self.date_sent,
            self.num_segments,
            self.messaging_service_sid,
            self.status_callback,
            self.error_code,
            self.validity_period,
            self.seq,
        )


@dataclass(slots=True)
class Call:
    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    status: str
    date_created: datetime
    date_updated: datetime
    status_callback: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    # The URL whose answer is the call's current TwiML: relative <Gather action>s resolve on it.
    document_url: str | None = None
    # Every TwiML document the app answered for this call, in order.
    twiml: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    # StatusCallbackEvent: which progress events get a callback (Twilio's default: completed).
    events: tuple[str, ...] = ("completed",)
    status_callback_method: str = "POST"
    machine_detection: str | None = None
    answered_by: str | None = None
    timeout: int = 60
    seq: int = 0
    # When the create arrived, to the microsecond (date_created has Twilio's whole seconds):
    # what pacing is measured against.
    created: float = 0.0


def _copy_call(call: Call) -> Call:
    return dataclasses.replace(call, twiml=list(call.twiml), digits=list(call.digits))


class SandboxState:
    """Lives on the sandbox's event loop; other threads read snapshots, so every access locks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._seq = 0
        self._messages: dict[str, Message] = {}
        self._order: list[Message] = []
        self._by_to: dict[str, list[Message]] = {}
        self._by_status: Counter[str] = Counter()
        self._calls: dict[str, Call] = {}
        self._calls_by_to: dict[str, list[Call]] = {}
        self.call_plans: dict[str, dict[str, str]] = {}
        self._unsubscribed: set[str] = set()
        self._requests: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self._clear()

    # -- messages -------------------------------------------------------------------------

    def add_message(self, message: Message) -> None:
        """Store a new message; the store keeps (and later changes) the caller's object.

        Only the event loop changes messages, so a handler on the loop may read the object
        it just added until its next await; everyone else reads snapshots.
        """
        with self._lock:
            self._seq += 1
            message.seq = self._seq
            self._messages[message.sid] = message
            self._order.append(message)
            self._by_to.setdefault(message.to, []).append(message)
            self._by_status[message.status] += 1

    def get_message(self, sid: str) -> Message | None:
        with self._lock:
            message = self._messages.get(sid)
            return message.snapshot() if message else None

    def update_message(
        self,
        sid: str,
        status: str,
        when: datetime,
        error_code: int | None = None,
        from_: str | None = None,
    ) -> Message | None:
        """Move a message to `status`; None when it is gone (the sandbox was reset)."""
        with self._lock:
            message = self._messages.get(sid)
            if message is None:
                return None
            self._by_status[message.status] -= 1
            self._by_status[status] += 1
            message.status = status
            message.date_updated = when
            if error_code is not None:
                message.error_code = error_code
            if from_ and not message.from_:
                message.from_ = from_
            return message.snapshot()

    def messages_to(self, to: str) -> list[Message]:
        """Messages to one number, oldest first."""
        with self._lock:
            return [m.snapshot() for m in self._by_to.get(to, ())]

    def all_messages(self) -> list[Message]:
        """Every message, oldest first."""
        with self._lock:
            return [m.snapshot() for m in self._order]

    def page(
        self,
        to: str | None,
        match: Callable[[Message], bool] | None,
        size: int,
        offset: int = 0,
        after_sid: str | None = None,
    ) -> tuple[list[Message], bool]:
        """One list page, newest first, and whether more follow.

        A To filter walks only that number's messages. `after_sid` (a page token) starts just
        past that message; otherwise the first `offset` matches are skipped.
        """
        with self._lock:
            candidates = self._by_to.get(to, []) if to is not None else self._order
            end = len(candidates)
            if after_sid is not None:
                anchor = self._messages.get(after_sid)
                end = bisect_left(candidates, anchor.seq, key=lambda m: m.seq) if anchor else 0
            found: list[Message] = []
            skip = 0 if after_sid is not None else offset
            for index in range(end - 1, -1, -1):
                message = candidates[index]
                if match is not None and not match(message):
                    continue
                if skip:
                    skip -= 1
                    continue
                if len(found) == size:
                    return found, True
                found.append(message.snapshot())
            return found, False

    def counts(self) -> dict[str, object]:
        with self._lock:
            by_status = {str(status): n for status, n in self._by_status.items() if n}
            return {"messages": len(self._messages), "by_status": by_status}

    # -- opt-outs -------------------------------------------------------------------------

    def unsubscribe(self, phone: str) -> None:
        with self._lock:
            self._unsubscribed.add(phone)

    def resubscribe(self, phone: str) -> None:
        with self._lock:
            self._unsubscribed.discard(phone)

    def is_unsubscribed(self, phone: str) -> bool:
        with self._lock:
            return phone in self._unsubscribed

    def unsubscribed(self) -> list[str]:
        with self._lock:
            return sorted(self._unsubscribed)

    # -- calls ----------------------------------------------------------------------------

    def add_call(self, call: Call) -> Call:
        with self._lock:
            self._seq += 1
            call.seq = self._seq
            self._calls[call.sid] = call
            self._calls_by_to.setdefault(call.to, []).append(call)
            return _copy_call(call)

    def calls_page(
        self, to: str | None, match: Callable[[Call], bool] | None, size: int, offset: int
    ) -> tuple[list[Call], bool]:
        """One page of calls, newest first, and whether more follow."""
        with self._lock:
            candidates = self._calls_by_to.get(to, []) if to else list(self._calls.values())
            found = [c for c in reversed(candidates) if match is None or match(c)]
            return [_copy_call(c) for c in found[offset : offset + size]], len(
                found
            ) > offset + size

    def plan_call(self, phone: str, plan: dict[str, str] | None) -> None:
        with self._lock:
            if plan is None:
                self.call_plans.pop(phone, None)
            else:
                self.call_plans[phone] = plan

    def call_plan(self, phone: str) -> dict[str, str] | None:
        with self._lock:
            return self.call_plans.get(phone)

    def get_call(self, sid: str) -> Call | None:
        with self._lock:
            call = self._calls.get(sid)
            return _copy_call(call) if call else None

    def update_call(
        self,
        sid: str,
        twiml: str | None = None,
        digits: str | None = None,
        **changes: object,
    ) -> Call | None:
        """Change a call's fields and append to its TwiML/digits history."""
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                return None
            for name, value in changes.items():
                setattr(call, name, value)
            if twiml is not None:
                call.twiml.append(twiml)
            if digits is not None:
                call.digits.append(digits)
            return _copy_call(call)

    def all_calls(self) -> list[Call]:
        with self._lock:
            return [_copy_call(c) for c in self._calls.values()]

    # -- request counters -----------------------------------------------------------------

    def bump(self, counter: str) -> None:
        with self._lock:
            self._requests[counter] += 1

    def requests(self) -> dict[str, int]:
        with self._lock:
            names = ("create", "errors_500", "errors_429", "timeouts")
            counts = {name: self._requests[name] for name in names}
            counts.update(self._requests)
            return counts
