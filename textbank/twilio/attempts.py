"""What a failed create says about Twilio's state: refused, never sent, or unknown (quarantine)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from textbank.twilio.wire import NotSent, WireError

# How long a create whose outcome is unknown keeps its row from being sent again.
#
# Twilio documents no bound on it: error 20500 says a POST that failed with a 5xx (or timed
# out) may still have created the message, and a create that stays queued at its front door
# is processed whenever it gets there; a late message then shows in the Messages list (as
# `queued` or later) and posts its status callback, which carries the row id. We saw late
# creates land 4-46 s after the client gave up. Five minutes is several times that, so the
# list (or the callback) has spoken before we decide; a member waits a few minutes longer
# for a text that never left, instead of getting two. TEXTBANK_SEND_QUARANTINE changes it.
DEFAULT_QUARANTINE = 300.0  # seconds


class Attempt(StrEnum):
    """How a failed create left things at Twilio."""

    REFUSED = "refused"  # a 4xx answer: Twilio said no, and sending again would not change it
    NOT_SENT = "not_sent"  # provably never created (no byte written, or a 429): retry at once
    UNKNOWN = "unknown"  # may have been created: no resend until the quarantine has passed


def classify(exc: BaseException) -> Attempt:
    """Sort an exception from a create (SDK, textbank's wire, or requests) by what it proves."""
    if isinstance(exc, TwilioRestException):
        if exc.status == 429:  # throttled before anything was created
            return Attempt.NOT_SENT
        if exc.status is None or exc.status >= 500:
            return Attempt.UNKNOWN
        return Attempt.REFUSED
    if isinstance(exc, NotSent | requests.ConnectTimeout):
        return Attempt.NOT_SENT
    if isinstance(exc, TwilioException | WireError | TimeoutError | OSError):
        # TwilioServiceException, an answer the SDK could not read, a reset mid-response,
        # a read timeout: the request may have been written and acted on.
        return Attempt.UNKNOWN
    if isinstance(exc, requests.RequestException):
        return Attempt.UNKNOWN
    raise TypeError(f"not an error from a Twilio request: {exc!r}") from exc


# What a sender or sweeper may catch from a request to Twilio (classify sorts them).
REQUEST_ERRORS = (TwilioException, WireError, TimeoutError, OSError, requests.RequestException)


def quarantine_over(attempted_at: datetime, now: datetime, quarantine: timedelta) -> bool:
    """True once a send whose outcome was unknown may be looked for one last time and redone."""
    return now - attempted_at >= quarantine
