"""The dashboard in a real browser (headless Chromium): a blast's numbers, the chart, no CDN."""

import contextlib
import os
import shutil
import time
from urllib.parse import urlsplit

import pytest
from blast_helpers import act_on_replies, inbound, run_queue, seed, signed_post, texts_by_phone
from playwright.sync_api import sync_playwright

from textbank.accounts import create_user
from textbank.db import session_scope

MEMBERS = [
    ("Ana", "617-555-0101", "1199", "en"),
    ("Luis", "617-555-0102", "1199", "en"),
    ("Rosa", "617-555-0103", "1199", "en"),
    ("Mei", "617-555-0104", "1199", "en"),
    ("Wei", "617-555-0105", "26", "en"),
]
CAMPAIGN = {
    "name": "GOTV <Nov 3>",
    "kind": "gotv",
    "message": "Hi {first_name}! {local} votes Tuesday. Reply YES to pledge.",
    "audience": {"locals": ["1199"]},
    "keywords": {"YES": "pledged_to_vote", "VOLUNTEER": "volunteer"},
}
LEAD, PASSWORD = "lead@example.org", "a long and known password"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


@contextlib.contextmanager
def _chromium():
    """Debian's Chromium under Playwright; failing (never skipping) when it is not installed.

    Started only after the blast: Playwright's sync API keeps an asyncio loop running in this
    thread, and the sender's own event loop cannot start inside one.
    """
    executable = os.environ.get("TEXTBANK_TEST_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("no chromium to drive: apt-get install chromium (.ci/run installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _until(page, script: str, seconds: float = 15.0) -> None:
    """Wait until `script` is true in the page, polled from here (a machine under load may
    take seconds to redraw)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(script):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {script}")
        page.wait_for_timeout(50)


def _blast(live, auth) -> int:
    """Text Local 1199, wait for the carrier's delivery receipts, then three members reply."""
    seed(live.sessions, MEMBERS)
    created = live.client.post("/api/v1/campaigns", json=CAMPAIGN, headers=auth)
    assert created.status_code == 201, created.get_json()
    campaign_id = created.get_json()["id"]
    launch = live.client.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=auth)
    assert launch.status_code == 202, launch.get_json()
    run_queue(live.settings)
    deadline = time.monotonic() + 15
    stats_url = f"/api/v1/campaigns/{campaign_id}/stats"
    while live.client.get(stats_url, headers=auth).get_json()["delivered"] < 4:
        assert time.monotonic() < deadline, "the sandbox never reported the texts delivered"
        time.sleep(0.05)
    for phone, body in [("+16175550101", "YES"), ("+16175550102", "VOLUNTEER"),
                        ("+16175550103", "what time do polls open?")]:  # fmt: skip
        signed_post(live.client, live.settings, "/twilio/sms", inbound(phone, body))
    act_on_replies(live.settings)
    with session_scope(live.sessions) as session:
        create_user(session, LEAD, "manager", PASSWORD)
    return campaign_id


def _watch(page, requests: list, problems: list) -> None:
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))


def real_problems(problems: list[str]) -> list[str]:
    """What went wrong in the pages, less requests cut off on purpose: htmx reports a request
    it abandoned (the page left, or a newer request of the same element replaced it) as
    `htmx:sendAbort` after an `htmx:afterRequest`; a poll under way when a test reloads its
    page ends so on a busy machine. Failed sends, refusals and script errors all stay."""
    kept: list[str] = []
    for problem in problems:
        if problem.startswith("htmx:sendAbort"):
            if kept and kept[-1].startswith("htmx:afterRequest"):
                kept.pop()
            continue
        kept.append(problem)
    return kept


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/dashboard")
    assert urlsplit(page.url).path == "/login"  # sent to sign in first
    page.fill("#email", LEAD)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")


def _cell(page, local: str, col: str) -> str:
    return page.locator(f'tr[data-local="{local}"] [data-col="{col}"]').inner_text()


def test_manager_reads_the_blast_on_the_dashboard(live, auth):
    campaign_id = _blast(live, auth)
    local_1199 = {
        "+1" + phone.replace("-", "") for _, phone, local, _ in MEMBERS if local == "1199"
    }
    texted_1199 = len(local_1199 & set(texts_by_phone(live.sandbox)))  # as the carrier saw it
    assert texted_1199 == 4

    requests, problems = [], []
    with _chromium() as browser:
        _read_dashboard(browser, live, campaign_id, texted_1199, requests, problems)
    assert f"{live.url}/static/vendor/chart.umd.min.js" in requests
    off_site = [u for u in requests if urlsplit(u).scheme != "data"
                and urlsplit(u).hostname != "127.0.0.1"]  # fmt: skip
    assert off_site == []
    assert real_problems(problems) == []  # no script errors, no CSP violations


def _read_dashboard(browser, live, campaign_id, texted_1199, requests, problems) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _watch(page, requests, problems)
    _sign_in(page, live.url)

    assert _cell(page, "1199", "texted") == str(texted_1199)
    assert [_cell(page, "1199", c) for c in ("members", "delivered", "replied", "acted",
                                             "volunteers", "opted_out")] == [
        "4", "4", "3", "1", "1", "0"]  # fmt: skip
    assert (_cell(page, "26", "members"), _cell(page, "26", "texted")) == ("1", "0")
    assert _cell(page, "TOTAL", "texted") == "4"
    funnel = page.locator(f'article[data-campaign-id="{campaign_id}"]')
    assert funnel.locator("h3").inner_text() == "GOTV <Nov 3>"  # shown as text, not markup
    assert funnel.locator('[data-step="volunteers"]').inner_text() == "1"
    assert page.locator("#by-local progress").count() == 3 * 3  # two locals and the total

    # The chart library came from the app and drew today's replies and outcomes.
    assert page.evaluate("typeof Chart") == "function"
    page.wait_for_function("Chart.getChart(document.getElementById('timeline-chart')) != null")
    totals = page.evaluate("""Chart.getChart(document.getElementById('timeline-chart'))
        .data.datasets.map(d => [d.label, d.data.reduce((a, b) => a + b, 0)])""")
    assert totals == [["Replies", 3], ["Actions", 1], ["Volunteers", 1]]
    drawn = page.evaluate("""(() => { const c = document.getElementById('timeline-chart');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; })()""")
    assert drawn > 1000, "the chart canvas is blank"
    page.screenshot(path="/tmp/dashboard.png", full_page=True)

    # On a 375px phone the page itself never scrolls sideways; wide tables scroll in their box.
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # Chart.js redraws for the narrower box when its resize observer fires: a slow machine
    # takes longer than a frame, so wait for the redraw rather than a fixed time.
    _until(
        page,
        """(() => { const c = document.getElementById('timeline-chart');
        return c.getBoundingClientRect().width <= c.parentElement.clientWidth; })()""",
    )
    assert page.evaluate("document.querySelector('#by-local').parentElement.scrollWidth") > 375
    page.screenshot(path="/tmp/dashboard-phone.png", full_page=True)

    page.click("text=Sign out")
    page.wait_for_url(f"{live.url}/login")
    page.goto(f"{live.url}/dashboard")
    assert urlsplit(page.url).path == "/login"
    context.close()
