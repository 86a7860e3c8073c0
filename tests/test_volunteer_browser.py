"""Whole text-bank shifts in a real browser (headless Chromium through Playwright)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from blast_helpers import texts_by_phone
from playwright.sync_api import expect
from sqlalchemy import select
from test_dashboard_browser import _chromium, real_problems
from volunteer_helpers import MEMBERS, P2P_CAMPAIGN, PASSWORD, PHONES, launch_p2p, volunteer

from textbank.conversations.reclaim import reclaim_stale
from textbank.db import session_scope
from textbank.models import Conversation, Member, OptOutEvent, OutboundMessage, Outcome, utcnow

CAMPAIGN = {**P2P_CAMPAIGN, "batch_size": 3}


def _work_queue(settings) -> None:
    """Run the send jobs in a burst worker of its own: Playwright's event loop owns this
    thread, and RQ's worker wants a main thread for its signals."""
    env = {**os.environ, "TEXTBANK_ENV": "test", "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "TWILIO_API_URL": settings.twilio_api_url,
           "PUBLIC_BASE_URL": settings.public_base_url, "TEXTBANK_SEND_RATE": "500",
           "TEXTBANK_SEND_WINDOW": "00:00-24:00"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "textbank.cli", "worker", "--burst"], env=env,
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def _member_replies(live, phone: str, body: str) -> None:
    answer = requests.post(f"{live.sandbox.url}/sandbox/reply",
                           json={"from": phone, "body": body}, timeout=10)  # fmt: skip
    assert answer.json()["status"] == 200, answer.text
    _work_queue(live.settings)  # the worker acts on it and pushes it to the console


def _sign_in(browser, base: str, email: str, problems: list, lands: str = "/volunteer"):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda m: m.type == "error" and "404 (NOT FOUND)" not in m.text and problems.append(m.text),
    )
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    page.on("request", lambda r: urlsplit(r.url).hostname not in ("127.0.0.1", None)
            and problems.append(f"off-site request {r.url}"))  # fmt: skip
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{lands}")
    return page


def _held(sessions, email: str) -> set[int]:
    with sessions() as session:
        return set(session.scalars(select(OutboundMessage.member_id).where(
            OutboundMessage.volunteer_id == _uid(sessions, email))))  # fmt: skip


def _uid(sessions, email: str) -> int:
    from textbank.models import User

    with sessions() as session:
        return session.scalar(select(User.id).where(User.email == email))


def test_a_whole_shift_in_the_browser(live, auth):
    campaign_id = launch_p2p(live.client, live.sessions, auth, CAMPAIGN)
    volunteer(live.sessions, "ana.v@example.org")
    volunteer(live.sessions, "bo.v@example.org")
    problems: list[str] = []
    with _chromium() as browser:
        a = _sign_in(browser, live.url, "ana.v@example.org", problems)
        b = _sign_in(browser, live.url, "bo.v@example.org", problems)
        a.screenshot(path="/tmp/console-home.png", full_page=True)

        # Both ask for a batch at the same moment and get different members.
        a_button = a.get_by_role("button", name="Request a batch")
        b_button = b.get_by_role("button", name="Request a batch")
        a_button.evaluate("b => setTimeout(() => b.click(), 50)")
        b_button.evaluate("b => setTimeout(() => b.click(), 50)")
        a.wait_for_url(f"{live.url}/volunteer/campaigns/{campaign_id}")
        b.wait_for_url(f"{live.url}/volunteer/campaigns/{campaign_id}")
        mine = _held(live.sessions, "ana.v@example.org")
        theirs = _held(live.sessions, "bo.v@example.org")
        assert len(mine) == len(theirs) == 3 and not mine & theirs
        b.screenshot(path="/tmp/console-texting.png", full_page=True)
        b.set_viewport_size({"width": 375, "height": 812})
        assert b.evaluate("document.documentElement.scrollWidth") <= 375
        b.screenshot(path="/tmp/console-texting-phone.png", full_page=True)
        b.set_viewport_size({"width": 1280, "height": 900})

        # Ana sends her batch with the Enter key alone, one member after another, no reload.
        names = []
        for _ in range(3):
            names.append(a.locator("[data-member-name]").inner_text())
            a.keyboard.press("Enter")
            a.wait_for_function("n => !document.querySelector('[data-member-name]') || "
                                "document.querySelector('[data-member-name]').innerText !== n",
                                arg=names[-1])  # fmt: skip
        expect(a.get_by_role("heading", name="Your batch is done")).to_be_visible(timeout=20_000)
        # Nothing is held, so nothing to release: awaited, as htmx settles the new card's
        # class a moment after the swap.
        expect(a.get_by_role("button", name="Done for today")).to_be_hidden(timeout=20_000)
        a.keyboard.down("Enter")  # a key held on the finished batch sends nothing more
        a.wait_for_timeout(300)
        a.keyboard.up("Enter")
        a.screenshot(path="/tmp/console-batch-done.png", full_page=True)
        _work_queue(live.settings)
        texted = texts_by_phone(live.sandbox)
        with live.sessions() as session:
            her_phones = set(session.scalars(select(Member.phone).where(Member.id.in_(mine))))
        assert set(texted) == her_phones and all(len(t) == 1 for t in texted.values())
        assert set(names) == {m[0] for m in MEMBERS if "+1" + m[1].replace("-", "") in her_phones}

        # A member replies through the sandbox; it appears in Ana's open inbox by itself.
        a.get_by_role("link", name="Inbox", exact=True).click()
        a.wait_for_url(f"{live.url}/volunteer/inbox")
        a.locator(".inbox[data-live=connected]").wait_for()  # subscribed: the stream has answered
        first, second = sorted(her_phones)[:2]
        _member_replies(live, first, "Where is the <rally>?")
        item = a.locator("[data-list=mine] li").filter(has_text="Where is the <rally>?")
        item.wait_for()
        assert a.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
        item.get_by_role("link").click()
        a.get_by_role("button", name="Reply").wait_for()
        a.locator("summary", has_text="Canned responses").click()
        a.get_by_label("Search canned responses").fill("where")
        a.get_by_role("button", name="Use canned response: Where is it?").click()
        assert "union hall" in a.get_by_label("Message").input_value()
        a.get_by_role("button", name="Reply").click()
        a.locator(".line.out").filter(has_text="union hall").wait_for()
        a.get_by_label("Outcome").select_option("attending")
        a.get_by_role("button", name="Record outcome").click()
        a.get_by_text("Recorded: attending.").wait_for()
        a.screenshot(path="/tmp/console-thread.png", full_page=True)
        _work_queue(live.settings)
        assert any("union hall" in body for body in texts_by_phone(live.sandbox)[first])

        # Another member asks to stop in words no keyword knows; one click opts them out.
        _member_replies(live, second, "please take me off this list")
        other = a.locator("[data-list=mine] li").filter(has_text="take me off")
        other.wait_for()
        other.get_by_role("link").click()
        # The first thread has an Opt out button too: press it only once this one is shown.
        a.locator(".thread").filter(has_text="take me off").wait_for()
        a.get_by_role("button", name="Opt out").click()
        a.get_by_text("Opted out.").wait_for()

        # Bo cannot open Ana's conversation by its URL.
        with live.sessions() as session:
            ana_conversation = session.scalar(
                select(Conversation.id).where(Conversation.status == "open")
            )
        response = b.goto(f"{live.url}/volunteer/conversations/{ana_conversation}")
        assert response.status == 404
        refused = f"404 {live.url}/volunteer/conversations/{ana_conversation}"
        problems[:] = [p for p in problems if p != refused]  # that one was meant
        assert "Where is the" not in b.content()

        # Ana's conversation goes unanswered past the reclaim time: Bo can take it.
        _member_replies(live, first, "Hello? Is parking free?")
        with session_scope(live.sessions) as session:
            online = {_uid(live.sessions, "bo.v@example.org")}  # Bo's console is open
            assert reclaim_stale(session, utcnow() + timedelta(minutes=61), online).conversations
        b.goto(f"{live.url}/volunteer/inbox")
        b.locator("[data-list=pool] li").filter(has_text="parking").get_by_role("link").click()
        b.get_by_role("button", name="Reply").wait_for()
        b.set_viewport_size({"width": 375, "height": 812})
        b.wait_for_timeout(200)
        assert b.evaluate("document.documentElement.scrollWidth") <= 375
        b.screenshot(path="/tmp/console-phone.png", full_page=True)

        # The supervisor sees the shift: who texted what, the batch still out.
        with session_scope(live.sessions) as session:
            from textbank.accounts import create_user

            create_user(session, "boss@example.org", "manager", PASSWORD)
        boss = _sign_in(browser, live.url, "boss@example.org", problems, lands="/dashboard")
        boss.goto(f"{live.url}/supervisor")
        ana_row = boss.locator("#shifts tr", has_text="ana.v@example.org")
        assert ana_row.locator("[data-col=sent]").inner_text() == "3"
        assert ana_row.locator("[data-col=outcomes]").inner_text() == "1"
        assert boss.locator("#batches tr", has_text="bo.v@example.org").count() == 1
        boss.screenshot(path="/tmp/console-supervisor.png", full_page=True)
    with live.sessions() as session:
        assert session.scalar(select(Outcome.source)) == "volunteer_tag"
        event = session.scalar(select(OptOutEvent))
        assert event.source == "volunteer" and "ana.v@example.org" in event.text
    assert PHONES  # members' phones were never on a page (checked over HTTP in test_console)
    assert real_problems(problems) == [], problems
