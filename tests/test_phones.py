"""Phone parsing to E.164 and time zones."""

import pytest

from textbank.members.phones import InvalidPhone, time_zones, to_e164


@pytest.mark.parametrize(
    "raw",
    [
        "(617) 555-0123",
        "617-555-0123",
        "+1 617 555 0123",
        "1.617.555.0123",
        "6175550123",
        "001 617 555 0123",
    ],
)
def test_us_formats_become_e164(raw):
    assert to_e164(raw) == "+16175550123"


@pytest.mark.parametrize("raw", ["", "555-1234", "n/a", "(617) 000-0000", "12345678901234"])
def test_bad_numbers_are_refused(raw):
    with pytest.raises(InvalidPhone):
        to_e164(raw)


def test_time_zone_follows_area_code():
    assert time_zones("+16175550123") == ("America/New_York",)
    assert time_zones("+13125550123") == ("America/Chicago",)
