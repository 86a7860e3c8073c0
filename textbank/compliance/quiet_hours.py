"""Quiet hours: when a member may be texted, in the member's own local time."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

US_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")

EXPECTED_FORM = "08:00-21:00"
MINUTES_PER_DAY = 24 * 60
SEARCH_DAYS = 8  # past a week, a missing opening means the zones never overlap
_MIN_VALIDITY = 60  # Twilio refuses a ValidityPeriod shorter than this

_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
# Sampling step when looking for DST transitions; zones never change offset twice this fast.
_TRANSITION_STEP = timedelta(hours=6)


@dataclass(frozen=True)
class SendWindow:
    """Allowed local hours as minutes after local midnight, start inclusive, end exclusive."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(
                f"send window {self.start_minute}-{self.end_minute} must satisfy "
                f"0 <= start < end <= {MINUTES_PER_DAY} minutes"
            )

    @classmethod
    def parse(cls, value: str) -> SendWindow:
        """Read "08:00-21:00" (spaces and one-digit hours allowed; 24:00 only as the end)."""
        match = _WINDOW.fullmatch(value)
        problem = f"send window {value!r} is not of the form {EXPECTED_FORM}"
        if not match:
            raise ValueError(problem)
        sh, sm, eh, em = (int(part) for part in match.groups())
        if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
            raise ValueError(f"{problem}: hours run 00-23 (24:00 only as the end), minutes 00-59")
        start, end = sh * 60 + sm, eh * 60 + em
        if start >= end:
            raise ValueError(f"{problem}: the start must come before the end")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"

    def contains(self, local: datetime) -> bool:
        """Whether a local wall-clock time falls in the window."""
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return self.start_minute * 60 <= seconds < self.end_minute * 60


@dataclass(frozen=True)
class WindowCheck:
    """Open now (and when it closes), or closed now (and when it next opens), in UTC."""

    open: bool
    opens_at: datetime | None
    closes_at: datetime | None


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _zones(zones: Sequence[str]) -> list[ZoneInfo]:
    names = tuple(zones) or US_ZONES
    try:
        return [ZoneInfo(name) for name in names]
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone in {', '.join(names)}") from exc


def _offset(tz: ZoneInfo, ts: int) -> timedelta | None:
    return datetime.fromtimestamp(ts, tz).utcoffset()


def _first_with_offset(tz: ZoneInfo, lo: int, hi: int) -> datetime:
    """The transition instant in (lo, hi]: the first second carrying hi's UTC offset."""
    target = _offset(tz, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(tz, mid) == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _wall_instants(tz: ZoneInfo, day: date, minute: int) -> list[datetime]:
    """The UTC instants at which the zone's wall clock reaches `minute` on local `day`.

    Two on a fall-back day when the time repeats; when the time is skipped on a spring-forward
    day, the jump itself, which is the first existing instant after it.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    instants = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    existing = [u for u in instants if u.astimezone(tz).replace(tzinfo=None) == wall]
    if existing:
        return existing
    lo, hi = (int(u.timestamp()) for u in instants)
    return [_first_with_offset(tz, lo, hi)]


def _transitions(tz: ZoneInfo, start: datetime, stop: datetime) -> list[datetime]:
    """Offset changes between two instants: where the wall clock jumps rather than ticks."""
    found = []
    ts, end = int(start.timestamp()), int(stop.timestamp())
    step = int(_TRANSITION_STEP.total_seconds())
    while ts < end:
        nxt = min(ts + step, end)
        if _offset(tz, ts) != _offset(tz, nxt):
            found.append(_first_with_offset(tz, ts, nxt))
        ts = nxt
    return found


def _crossings(
    window_minute: int, tzs: Iterable[ZoneInfo], now: datetime, stop: datetime
) -> list[datetime]:
    """Every instant in [now, stop] at which some zone's wall clock reaches `window_minute`."""
    found = []
    for tz in tzs:
        today = now.astimezone(tz).date()
        for offset in range(-1, SEARCH_DAYS + 2):
            for instant in _wall_instants(tz, today + timedelta(days=offset), window_minute):
                if now <= instant <= stop:
                    found.append(instant)
    return found


def _open_everywhere(window: SendWindow, tzs: Sequence[ZoneInfo], instant: datetime) -> bool:
    return all(window.contains(instant.astimezone(tz)) for tz in tzs)


def check(window: SendWindow, zones: Sequence[str], now: datetime) -> WindowCheck:
    """Whether a number in these zones may be texted at `now`, and until or from when.

    With several zones (or none known, meaning all of US_ZONES) the window must be open in
    every one of them. Membership is by local wall-clock time, so DST days come out right:
    a start skipped by spring-forward opens at the jump, a repeated hour counts twice.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    now = now.astimezone(UTC)
    tzs = _zones(zones)
    stop = now + timedelta(days=SEARCH_DAYS)

    # Open or closed can only change where some wall clock reaches start or end or jumps.
    jumps = [t for tz in tzs for t in _transitions(tz, now, stop)]

    if _open_everywhere(window, tzs, now):
        # Reaching the end always closes (even 24:00 of an all-day window: a day boundary).
        closings = _crossings(window.end_minute % MINUTES_PER_DAY, tzs, now, stop)
        closings = [t for t in closings if t > now]
        closings += [t for t in jumps if t > now and not _open_everywhere(window, tzs, t)]
        return WindowCheck(open=True, opens_at=None, closes_at=min(closings))

    candidates = sorted(_crossings(window.start_minute, tzs, now, stop) + jumps)
    for candidate in candidates:
        if _open_everywhere(window, tzs, candidate):
            return WindowCheck(open=False, opens_at=candidate, closes_at=None)
    names = ", ".join(str(tz) for tz in tzs)
    raise ValueError(f"send window {window} is never open in all of {names} at once")


_KNOWN: dict[tuple[SendWindow, tuple[str, ...]], tuple[datetime, WindowCheck]] = {}
_KNOWN_MAX = 4096  # zone sets in use are a few dozen; a bound, not a policy


def check_remembered(window: SendWindow, zones: Sequence[str], now: datetime) -> WindowCheck:
    """check(), answered from memory while the answer cannot have changed.

    Open or closed only changes at the instant check() names (closes_at, opens_at), and
    until then check() returns that same instant, so an answer found at `t` holds for any
    `now` in [t, that instant). A volunteer's Send asked check() for the member's zones on
    every press, a few milliseconds of CPU each time, for the same answer.
    """
    if now.tzinfo is None:
        return check(window, zones, now)  # which says what is wrong with it
    key = (window, tuple(zones))
    known = _KNOWN.get(key)
    if known is not None:
        found_at, answer = known
        until = answer.closes_at if answer.open else answer.opens_at
        if until is not None and found_at <= now < until:
            return answer
    answer = check(window, zones, now)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[key] = (now.astimezone(UTC), answer)
    return answer


def validity_seconds(check: WindowCheck, now: datetime, maximum: int = 36000) -> int:
    """Seconds a message sent at `now` may wait at the carrier: until the window closes.

    Clamped to [60, maximum], the range Twilio's ValidityPeriod accepts.
    """
    if not check.open or check.closes_at is None:
        raise ValueError("validity is only defined while the window is open")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if maximum < _MIN_VALIDITY:
        raise ValueError(f"maximum must be at least {_MIN_VALIDITY} seconds")
    seconds = int((check.closes_at - now).total_seconds())
    return max(_MIN_VALIDITY, min(maximum, seconds))
