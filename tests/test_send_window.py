"""Send windows in the member's own time zones, across DST changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from textbank.compliance.quiet_hours import (
    US_ZONES,
    SendWindow,
    WindowCheck,
    check,
    validity_seconds,
)

NY = ZoneInfo("America/New_York")
DAY = SendWindow.parse("08:00-21:00")
BOSTON = ("America/New_York",)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def boston(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


# --- SendWindow.parse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("08:00-21:00", 480, 1260),
        ("8:00 - 21:30", 480, 1290),
        ("00:00-24:00", 0, 1440),
        (" 09:15-17:45 ", 555, 1065),
        ("0:00-0:01", 0, 1),
        ("23:59-24:00", 1439, 1440),
    ],
)
def test_parse_accepts(value, start, end):
    assert SendWindow.parse(value) == SendWindow(start, end)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "8-21",
        "08:00",
        "08:00-",
        "8am-9pm",
        "08:00\u201321:00",  # an en dash, as word processors write it
        "08.00-21.00",
        "21:00-08:00",
        "08:00-08:00",
        "24:00-24:00",
        "24:00-23:00",
        "08:60-21:00",
        "25:00-26:00",
        "08:00-24:30",
        "08:00-21:000",
        "008:00-21:00",
    ],
)
def test_parse_refuses_with_the_value_and_expected_form(value):
    with pytest.raises(ValueError) as info:
        SendWindow.parse(value)
    assert repr(value) in str(info.value)
    assert "08:00-21:00" in str(info.value)


@pytest.mark.parametrize(("start", "end"), [(-1, 10), (10, 10), (600, 500), (0, 1441)])
def test_constructor_checks_bounds(start, end):
    with pytest.raises(ValueError, match="start < end"):
        SendWindow(start, end)


def test_window_prints_as_it_parses():
    assert str(SendWindow.parse("8:05 - 24:00")) == "08:05-24:00"
    assert SendWindow.parse(str(DAY)) == DAY


# --- check: one zone ------------------------------------------------------------------------


def test_boston_before_eight_is_closed_until_eight():
    result = check(DAY, BOSTON, boston(2026, 6, 15, 7, 59))
    assert result == WindowCheck(open=False, opens_at=utc(2026, 6, 15, 12, 0), closes_at=None)


def test_boston_at_eight_is_open_until_nine_pm():
    result = check(DAY, BOSTON, boston(2026, 6, 15, 8, 0))
    assert result == WindowCheck(open=True, opens_at=None, closes_at=utc(2026, 6, 16, 1, 0))


def test_boston_at_8_59_pm_is_open_for_one_more_minute():
    result = check(DAY, BOSTON, boston(2026, 6, 15, 20, 59, 30))
    assert result == WindowCheck(open=True, opens_at=None, closes_at=utc(2026, 6, 16, 1, 0))


def test_boston_at_nine_pm_is_closed_until_tomorrow():
    result = check(DAY, BOSTON, boston(2026, 6, 15, 21, 0))
    assert result == WindowCheck(open=False, opens_at=utc(2026, 6, 16, 12, 0), closes_at=None)


def test_results_are_utc_whatever_zone_now_is_in():
    result = check(DAY, BOSTON, boston(2026, 6, 15, 7, 0))
    assert result.opens_at is not None
    assert result.opens_at.utcoffset() == timedelta(0)
    assert result.opens_at == boston(2026, 6, 15, 8, 0)


def test_honolulu_is_closed_while_new_york_is_open():
    now = utc(2026, 6, 15, 13, 0)  # 09:00 in New York, 03:00 in Honolulu
    assert check(DAY, BOSTON, now).open
    honolulu = check(DAY, ("Pacific/Honolulu",), now)
    assert honolulu == WindowCheck(open=False, opens_at=utc(2026, 6, 15, 18, 0), closes_at=None)


def test_honolulu_evening_is_open_after_new_york_closed():
    now = utc(2026, 6, 16, 5, 0)  # 19:00 in Honolulu, 01:00 in New York
    assert check(DAY, ("Pacific/Honolulu",), now) == WindowCheck(
        open=True, opens_at=None, closes_at=utc(2026, 6, 16, 7, 0)
    )
    assert not check(DAY, BOSTON, now).open


# --- check: several zones -------------------------------------------------------------------


def test_two_zones_open_only_when_both_are():
    zones = ("America/New_York", "America/Chicago")
    # 08:30 New York, 07:30 Chicago: Chicago is still asleep.
    assert check(DAY, zones, utc(2026, 6, 15, 12, 30)) == WindowCheck(
        open=False, opens_at=utc(2026, 6, 15, 13, 0), closes_at=None
    )
    # 20:30 New York: New York closes first.
    assert check(DAY, zones, utc(2026, 6, 16, 0, 30)) == WindowCheck(
        open=True, opens_at=None, closes_at=utc(2026, 6, 16, 1, 0)
    )
    # 21:30 New York, 20:30 Chicago: closed until 08:00 in Chicago, the later of the two.
    assert check(DAY, zones, utc(2026, 6, 16, 1, 30)) == WindowCheck(
        open=False, opens_at=utc(2026, 6, 16, 13, 0), closes_at=None
    )


def test_zone_order_does_not_matter():
    now = utc(2026, 6, 15, 12, 30)
    forward = check(DAY, ("America/New_York", "Pacific/Honolulu"), now)
    backward = check(DAY, ("Pacific/Honolulu", "America/New_York"), now)
    assert forward == backward == WindowCheck(False, utc(2026, 6, 15, 18, 0), None)


def test_new_york_and_honolulu_overlap_for_seven_hours():
    zones = ("America/New_York", "Pacific/Honolulu")
    assert check(DAY, zones, utc(2026, 6, 15, 18, 0)) == WindowCheck(
        open=True, opens_at=None, closes_at=utc(2026, 6, 16, 1, 0)
    )


def test_unknown_zones_mean_all_of_the_continental_us():
    now = utc(2026, 6, 15, 12, 0)  # 08:00 New York, 05:00 Los Angeles
    assert check(DAY, (), now) == check(DAY, US_ZONES, now)
    assert check(DAY, (), now) == WindowCheck(False, utc(2026, 6, 15, 15, 0), None)
    # 20:30 New York, 17:30 Los Angeles: New York closes first.
    assert check(DAY, [], utc(2026, 6, 16, 0, 30)) == WindowCheck(
        True, None, utc(2026, 6, 16, 1, 0)
    )


def test_all_day_window_is_always_open_until_the_first_midnight():
    all_day = SendWindow.parse("00:00-24:00")
    zones = ("America/Los_Angeles", "America/New_York")
    assert check(all_day, zones, utc(2026, 6, 15, 12, 0)) == WindowCheck(
        True, None, utc(2026, 6, 16, 4, 0)
    )
    # At New York's midnight the next midnight to come is Los Angeles's.
    assert check(all_day, zones, utc(2026, 6, 16, 4, 0)) == WindowCheck(
        True, None, utc(2026, 6, 16, 7, 0)
    )


def test_window_never_open_everywhere_is_an_error_naming_the_zones():
    narrow = SendWindow.parse("09:00-10:00")
    with pytest.raises(ValueError) as info:
        check(narrow, ("Pacific/Honolulu", "Asia/Tokyo"), utc(2026, 6, 15, 0, 0))
    assert "Pacific/Honolulu" in str(info.value)
    assert "Asia/Tokyo" in str(info.value)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        check(DAY, BOSTON, datetime(2026, 6, 15, 12, 0))


def test_unknown_zone_is_refused():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        check(DAY, ("Mars/Olympus_Mons",), utc(2026, 6, 15, 12, 0))


# --- check: DST -----------------------------------------------------------------------------


def test_spring_forward_opens_at_eight_daylight_time():
    # Saturday 21:30 EST; Sunday 08:00 is EDT, one hour earlier in UTC than the day before.
    assert check(DAY, BOSTON, utc(2026, 3, 8, 2, 30)) == WindowCheck(
        False, utc(2026, 3, 8, 12, 0), None
    )


def test_fall_back_opens_at_eight_standard_time():
    assert check(DAY, BOSTON, utc(2026, 11, 1, 2, 0)) == WindowCheck(
        False, utc(2026, 11, 1, 13, 0), None
    )
    assert check(DAY, BOSTON, utc(2026, 11, 1, 13, 0)) == WindowCheck(
        True, None, utc(2026, 11, 2, 2, 0)
    )


def test_start_skipped_by_spring_forward_opens_at_the_jump():
    # 02:30 does not exist on 2026-03-08 in New York; 03:00 EDT (07:00 UTC) comes next.
    window = SendWindow.parse("02:30-05:00")
    assert check(window, BOSTON, boston(2026, 3, 8, 0, 0)) == WindowCheck(
        False, utc(2026, 3, 8, 7, 0), None
    )


def test_end_skipped_by_spring_forward_closes_at_the_jump():
    window = SendWindow.parse("00:00-02:30")
    assert check(window, BOSTON, boston(2026, 3, 8, 1, 0)) == WindowCheck(
        True, None, utc(2026, 3, 8, 7, 0)
    )


def test_repeated_hour_on_fall_back_follows_the_wall_clock():
    window = SendWindow.parse("01:30-05:00")
    # Opens at the first 01:30 (EDT, 05:30 UTC) ...
    assert check(window, BOSTON, utc(2026, 11, 1, 4, 0)) == WindowCheck(
        False, utc(2026, 11, 1, 5, 30), None
    )
    # ... the clock falls back to 01:00 at 06:00 UTC, which is before the start again ...
    assert check(window, BOSTON, utc(2026, 11, 1, 5, 45)) == WindowCheck(
        True, None, utc(2026, 11, 1, 6, 0)
    )
    # ... and reopens at the second 01:30 (EST).
    assert check(window, BOSTON, utc(2026, 11, 1, 6, 10)) == WindowCheck(
        False, utc(2026, 11, 1, 6, 30), None
    )


def _brute_force(window, zones, now):
    """Expected result by scanning minute by minute (all transitions fall on whole minutes)."""
    tzs = [ZoneInfo(z) for z in zones]

    def is_open(t):
        return all(window.contains(t.astimezone(tz)) for tz in tzs)

    if is_open(now):
        t = now + timedelta(minutes=1)
        while is_open(t):
            t += timedelta(minutes=1)
        return WindowCheck(True, None, t)
    t = now
    while not is_open(t):
        t += timedelta(minutes=1)
    return WindowCheck(False, t, None)


@pytest.mark.parametrize(
    ("window", "zones", "start"),
    [
        ("08:00-21:00", US_ZONES, utc(2026, 3, 6, 0, 0)),
        ("08:00-21:00", US_ZONES, utc(2026, 10, 30, 0, 0)),
        ("09:00-20:00", ("America/New_York", "Europe/London"), utc(2026, 3, 27, 0, 0)),
        ("09:00-20:00", ("America/New_York", "Europe/London"), utc(2026, 10, 24, 0, 0)),
        ("02:30-05:00", BOSTON, utc(2026, 3, 7, 0, 0)),
        ("00:00-02:30", BOSTON, utc(2026, 3, 7, 0, 0)),
        ("01:30-05:00", BOSTON, utc(2026, 10, 31, 0, 0)),
        ("00:00-01:30", BOSTON, utc(2026, 10, 31, 0, 0)),
        ("12:00-18:00", ("Asia/Kolkata", "Australia/Adelaide"), utc(2026, 4, 3, 0, 0)),
    ],
)
def test_agrees_with_a_minute_by_minute_scan_across_dst(window, zones, start):
    parsed = SendWindow.parse(window)
    for step in range(0, 4 * 24 * 60, 47):  # every 47 minutes for four days
        now = start + timedelta(minutes=step)
        assert check(parsed, zones, now) == _brute_force(parsed, zones, now), now


# --- validity_seconds -----------------------------------------------------------------------


def test_validity_runs_until_the_window_closes():
    now = boston(2026, 6, 15, 19, 0)
    assert validity_seconds(check(DAY, BOSTON, now), now) == 2 * 3600


def test_validity_is_capped_at_the_maximum():
    now = boston(2026, 6, 15, 8, 0)
    result = check(DAY, BOSTON, now)
    assert validity_seconds(result, now) == 36000
    assert validity_seconds(result, now, maximum=14400) == 14400


def test_validity_is_at_least_a_minute():
    now = boston(2026, 6, 15, 20, 59, 50)
    assert validity_seconds(check(DAY, BOSTON, now), now) == 60


def test_validity_counts_real_seconds_across_spring_forward():
    window = SendWindow.parse("01:00-05:00")
    now = boston(2026, 3, 8, 1, 0)
    # Four hours on the wall clock, three of them real.
    assert validity_seconds(check(window, BOSTON, now), now) == 3 * 3600


def test_validity_counts_real_seconds_across_fall_back():
    window = SendWindow.parse("00:00-04:00")
    now = boston(2026, 11, 1, 0, 0)
    assert validity_seconds(check(window, BOSTON, now), now) == 5 * 3600


def test_validity_of_a_closed_window_is_refused():
    now = boston(2026, 6, 15, 7, 0)
    with pytest.raises(ValueError, match="open"):
        validity_seconds(check(DAY, BOSTON, now), now)


def test_validity_refuses_naive_now_and_tiny_maximum():
    now = boston(2026, 6, 15, 12, 0)
    result = check(DAY, BOSTON, now)
    with pytest.raises(ValueError, match="timezone-aware"):
        validity_seconds(result, now.replace(tzinfo=None))
    with pytest.raises(ValueError, match="at least 60"):
        validity_seconds(result, now, maximum=30)
