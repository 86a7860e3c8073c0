"""What a volunteer sees when something goes wrong in a conversation, in a real browser.

Every wait here is for a condition (Playwright's expect, generous timeouts), never a fixed
pause: the suite runs on a busy machine.
"""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect
from sqlalchemy import select
from test_dashboard_browser import _chromium
from test_volunteer_browser import CAMPAIGN, _member_replies, _sign_in, _work_queue
from volunteer_helpers import launch_p2p, volunteer

from textbank.compliance.optouts import opt_out
from textbank.db import session_scope
from textbank.models import Member, OptOutSource, OutboundMessage, utcnow

WAIT = 20_000  # ms: a condition awaited on a loaded machine
SHOTS = os.environ.get("TEXTBANK_SCREENSHOTS")  # a folder: each state at 1280 and 375 px


def _shots(page, name: str) -> None:
    """The page fits a 375 px phone; saved at both widths when SHOTS is set."""
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        if width == 375:
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"ux-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _launched(live, auth) -> int:
    """The campaign, launched before the browser starts: Playwright keeps an event loop
    running in this thread, and the launch job run here may want one of its own."""
    campaign_id = launch_p2p(live.client, live.sessions, auth, CAMPAIGN)
    volunteer(live.sessions, "ana.v@example.org")
    return campaign_id


def _a_conversation(live, campaign_id, browser, problems, says="Is the hall accessible?"):
    """Ana texts one member, who answers; her inbox shows the thread. (page, member phone)."""
    page = _sign_in(browser, live.url, "ana.v@example.org", problems)
    page.get_by_role("button", name="Request a batch").click()
    page.wait_for_url(f"{live.url}/volunteer/campaigns/{campaign_id}")
    name = page.locator("[data-member-name]").inner_text()
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-member-name]")).not_to_have_text(name, timeout=WAIT)
    _work_queue(live.settings)
    with live.sessions() as session:
        phone = session.scalar(
            select(Member.phone)
            .join(OutboundMessage, OutboundMessage.member_id == Member.id)
            .where(OutboundMessage.status != "held")
        )
    _member_replies(live, phone, says)
    page.goto(f"{live.url}/volunteer/inbox")
    page.locator("[data-list=mine] li").filter(has_text=says).get_by_role("link").click()
    expect(page.get_by_role("button", name="Reply")).to_be_visible(timeout=WAIT)
    return page, phone


def _meant(problems: list, *statuses: str) -> None:
    """Drop the refusals the test provoked on purpose (a 400 logs a console error too)."""
    problems[:] = [p for p in problems if not any(s in p for s in statuses)]


def test_a_refused_reply_is_said_in_the_thread(live, auth):
    problems: list[str] = []
    campaign_id = _launched(live, auth)
    with _chromium() as browser:
        page, phone = _a_conversation(live, campaign_id, browser, problems)
        box = page.get_by_label("Message")
        assert box.get_attribute("required") is not None  # an empty box is never sent

        # Spaces alone pass the browser's check; the server refuses, and the thread says so.
        box.fill("   ")
        page.get_by_role("button", name="Reply").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Message is empty", timeout=WAIT)
        expect(alert).to_be_focused()
        _shots(page, "reply-refused")

        # A refusal with no thread to show (the form expired) is said beside the form.
        page.locator("input[name=csrf_token]").evaluate_all(
            "inputs => inputs.forEach(i => { i.value = 'expired'; })"
        )
        page.get_by_label("Message").fill("Hello")
        page.get_by_role("button", name="Reply").click()
        expect(page.get_by_role("alert")).to_contain_text("Form expired", timeout=WAIT)
        page.reload()

        # Opted out elsewhere while the thread was open: the Reply is refused, in words.
        with session_scope(live.sessions) as session:
            opt_out(session, phone, OptOutSource.CONSOLE, utcnow(), reason="asked the office")
        page.get_by_label("Message").fill("See you Saturday!")
        page.get_by_role("button", name="Reply").click()
        expect(page.get_by_role("alert")).to_contain_text(re.compile("opted out"), timeout=WAIT)
        expect(page.get_by_role("button", name="Reply")).to_have_count(0)
        _meant(problems, "400")
    with live.sessions() as session:
        said = session.scalars(select(OutboundMessage.body)).all()
    assert "See you Saturday!" not in said
    assert problems == []


def test_a_members_stop_reaches_the_open_thread_live(live, auth):
    problems: list[str] = []
    campaign_id = _launched(live, auth)
    with _chromium() as browser:
        page, phone = _a_conversation(live, campaign_id, browser, problems)
        expect(page.locator("[sse-connect]")).to_have_attribute("data-live", "connected",
                                                                timeout=WAIT)  # fmt: skip
        thread = page.locator(".thread")

        link = page.locator("[data-list=mine] li a").first
        expect(link).to_be_focused()  # clicked to open the thread
        assert page.locator("#thread").get_attribute("aria-live") is None

        # Words no opt-out rule takes as a STOP: flagged for the volunteer to decide.
        _member_replies(live, phone, "Actually STOP texting me")
        flag = thread.locator("[data-asks-to-stop]")
        expect(flag).to_contain_text("press Opt out", timeout=WAIT)
        expect(page.locator("[data-list=mine] li").first).to_contain_text("may want to stop")
        # Its list entry was replaced live: the focus stayed on it, and only the new text
        # was announced.
        expect(page.locator("[data-list=mine] li a").first).to_be_focused()
        expect(page.locator("[data-announce]")).to_have_text(
            "New text from Ana: Actually STOP texting me"
        )
        _shots(page, "asks-to-stop")

        # The member's STOP: the open thread says so and offers no Reply, with no reload.
        _member_replies(live, phone, "STOP")
        expect(thread.locator("[data-opted-out]")).to_contain_text("Reply is off", timeout=WAIT)
        expect(page.get_by_role("button", name="Reply")).to_have_count(0)
        expect(page.get_by_role("button", name="Opt out")).to_have_count(0)
        expect(thread.locator("[id^=state-]")).to_contain_text("opted out")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        _shots(page, "stopped-live")

        # Text zoomed to 200% on a phone: the inbox wraps, it never scrolls sideways.
        page.set_viewport_size({"width": 375, "height": 800})
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, "ux-inbox-zoom200-375.png"), full_page=True)
    assert problems == []


def test_on_a_phone_what_a_press_did_is_shown_where_the_volunteer_is(live, auth):
    problems: list[str] = []
    campaign_id = _launched(live, auth)
    with _chromium() as browser:
        page, _ = _a_conversation(live, campaign_id, browser, problems)
        page.set_viewport_size({"width": 375, "height": 700})
        page.get_by_label("Message").fill("Yes: ramps at both doors.")
        page.get_by_role("button", name="Reply").click()
        page.locator(".line.out").filter(has_text="ramps at both doors").wait_for(timeout=WAIT)
        expect(page.get_by_label("Message")).to_be_focused()  # ready for the next text
        page.get_by_label("Outcome").select_option("attending")
        page.get_by_role("button", name="Record outcome").click()
        notice = page.get_by_role("status").filter(has_text="Recorded: attending.")
        expect(notice).to_be_in_viewport(timeout=WAIT)
        expect(notice).to_be_focused()

        # Skip closes it: the notice is in view, and no survey or outcome is offered after.
        page.get_by_role("button", name="Skip").click()
        closed = page.get_by_role("status").filter(has_text="Conversation closed.")
        expect(closed).to_be_in_viewport(timeout=WAIT)
        expect(page.get_by_role("button", name="Record outcome")).to_have_count(0)
        expect(page.get_by_role("group", name="Are you coming?")).to_have_count(0)
        _shots(page, "skipped")
    assert problems == []
