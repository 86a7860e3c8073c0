"""A voice campaign's page in a real browser (headless Chromium): the call counts, what
each means, readable on a phone."""

import os

from test_call_reports import _run_campaign
from test_campaign_browser import _fits_a_phone, _shot
from test_dashboard_browser import _chromium

from textbank.accounts import create_user
from textbank.db import session_scope
from textbank.reports.measures import MEASURES

LEAD, PASSWORD = "organizer@example.org", "a long and known password"


def test_a_voice_campaign_page_shows_its_calls(live, auth):
    cid = _run_campaign(live, auth)
    with session_scope(live.sessions) as session:
        create_user(session, LEAD, "manager", PASSWORD)
    with _chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{live.url}/campaigns")
        page.fill("#email", LEAD)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live.url}/campaigns/{cid}")
        calls = page.locator("#calls")
        for key, count in (("calls_placed", "3"), ("calls_answered", "2"), ("voicemails", "1"),
                           ("calls_opted_out", "1"), ("calls_pressed", "1")):  # fmt: skip
            card = page.locator(f'[data-measure="{key}"]')
            assert card.locator("dd").inner_text() == count, key
            assert card.locator("dt").inner_text() == MEASURES[key].label
            assert MEASURES[key].for_campaign in card.inner_text()
        assert calls.locator('[data-measure="calls_placed"]').is_visible()
        assert page.locator("#pressed").get_by_role("cell", name="volunteer").is_visible()
        _fits_a_phone(page)
        if os.environ.get("TEXTBANK_SCREENSHOTS"):
            _shot(page, "voice-campaign")
