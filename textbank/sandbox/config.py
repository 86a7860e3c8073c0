"""The sandbox carrier's knobs: credentials, webhook URLs, injected faults and callback timing."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - the well-known dev credential
# Twilio's magic test number; used as our sender when none is configured.
DEFAULT_NUMBER = "+15005550006"

_RATES = (
    "error_500_rate",
    "error_429_rate",
    "timeout_rate",
    "late_create_rate",
    "undelivered_rate",
    "failed_rate",
    "duplicate_callback_rate",
    "reorder_callbacks",
    "machine_rate",
    "no_answer_rate",
    "busy_rate",
    "call_failed_rate",
)
_DURATIONS = (
    "latency_ms",
    "timeout_seconds",
    "late_create_seconds",
    "callback_delay_ms",
    "callback_timeout_seconds",
    "gather_wait_seconds",
    "ring_ms",
    "talk_ms",
)
_FLAGS = ("fault_commits", "callbacks", "auto_opt_out", "play_calls")
_COUNTS = {"callback_concurrency": (1, 1024), "callback_retries": (0, 10)}
_TEXTS = ("account_sid", "auth_token")
_OPTIONAL_TEXTS = ("from_number", "messaging_service_sid", "sms_url", "voice_url", "call_digits")
_URLS = ("sms_url", "voice_url")


@dataclass
class SandboxConfig:
    """Everything the sandbox can be told; all of it may change while it runs."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    # Our number: the To of member replies and the From of messaging-service sends.
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # The app's inbound SMS webhook, for /sandbox/reply.
    sms_url: str | None = None
    # Answer URL for calls created without Url or Twiml.
    voice_url: str | None = None
    latency_ms: float = 0.0
    error_500_rate: float = 0.0
    error_429_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 20.0
    # A faulted create (500 or timeout) still stores the message: the lost-response case.
    fault_commits: bool = False
    # Share of creates held this long at the front door before they are stored (and then
    # answered, to a client that has usually given up): a late create, as Twilio can have.
    late_create_rate: float = 0.0
    late_create_seconds: float = 20.0
    undelivered_rate: float = 0.0
    failed_rate: float = 0.0
    callbacks: bool = True
    callback_delay_ms: float = 100.0
    callback_concurrency: int = 64
    callback_retries: int = 2
    callback_timeout_seconds: float = 10.0
    duplicate_callback_rate: float = 0.0
    # Share of messages whose "delivered" callback arrives before "sent".
    reorder_callbacks: float = 0.0
    # How long a call waits at a <Gather> for /sandbox/calls/{sid}/digits before hanging up.
    gather_wait_seconds: float = 5.0
    # Who picks up an outbound call: shares of the calls that fail, are busy, ring out
    # unanswered, or reach an answering machine; the rest reach a person.
    call_failed_rate: float = 0.0
    busy_rate: float = 0.0
    no_answer_rate: float = 0.0
    machine_rate: float = 0.0
    # The keys a person presses at the first <Gather>: None waits for
    # /sandbox/calls/{sid}/digits, "" presses nothing.
    call_digits: str | None = None
    # False: a created call is stored and answered but never played (no callbacks, no
    # TwiML fetched; it stays queued), so a benchmark sees the pace alone.
    play_calls: bool = True
    ring_ms: float = 0.0  # how long a call rings before it is answered (or gives up)
    talk_ms: float = 0.0  # how long the last TwiML plays before the call hangs up
    # Twilio's default opt-out handling: STOP keywords unsubscribe, START keywords resubscribe.
    auto_opt_out: bool = True
    random_seed: int | None = None
    # Bumped whenever random_seed is set, even to the same value: the dice restart then.
    seed_generation: ClassVar[int] = 0

    @property
    def sender_number(self) -> str:
        return self.from_number or DEFAULT_NUMBER

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate every change first, then apply them all; ValueError names the bad key."""
        clean = {key: _check(key, value) for key, value in changes.items()}
        for key, value in clean.items():
            setattr(self, key, value)
        if "random_seed" in clean:
            type(self).seed_generation += 1
        return clean


def _check(key: str, value: Any) -> Any:
    if key in _RATES:
        number = _number(key, value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1, got {value!r}")
        return number
    if key in _DURATIONS:
        number = _number(key, value)
        if number < 0:
            raise ValueError(f"{key} must not be negative, got {value!r}")
        return number
    if key in _FLAGS:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if key in _COUNTS:
        low, high = _COUNTS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{key} must be an integer from {low} to {high}, got {value!r}")
        return value
    if key == "random_seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"random_seed must be an integer or null, got {value!r}")
        return value
    if key in _TEXTS:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        return value
    if key in _OPTIONAL_TEXTS:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string or null, got {value!r}")
        value = value or None
        if key in _URLS and value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{key} must be an http(s) URL, got {value!r}")
        return value
    raise ValueError(f"unknown sandbox setting {key!r}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) and key == "reorder_callbacks":
        return 1.0 if value else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return number
