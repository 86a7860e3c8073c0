"""A peer-to-peer campaign built, launched and worked in a real browser (Debian's Chromium
through Playwright): the manager's form, the launch that sends nothing, a volunteer's batch,
and the canned response the manager wrote, offered in the volunteer's conversation."""

from __future__ import annotations

import os
import re
import time

from blast_helpers import seed, texts_by_phone
from sqlalchemy import select
from test_dashboard_browser import _chromium, real_problems
from test_volunteer_browser import _member_replies, _sign_in, _work_queue
from volunteer_helpers import MEMBERS, volunteer

from textbank.models import Member, OutboundMessage

SHOTS = os.environ.get("TEXTBANK_SCREENSHOTS")  # a folder: each page at 1280 and 375 px


def _fits(page, name: str) -> None:
    """The page fits a 375 px phone (saved at both widths when SHOTS is set)."""
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        if width == 375:
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, page.url
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"p2pform-{name}-{width}.png"),
                            full_page=True)  # fmt: skip
    page.set_viewport_size({"width": 1280, "height": 900})


def _until(page, script: str, arg=None) -> None:
    """Wait until `script` is true in the page, polled from here: wait_for_function's polling
    evaluates a string, which the page's Content-Security-Policy forbids."""
    deadline = time.monotonic() + 20  # generous: two busy cores can stall a page for seconds
    while not page.evaluate(script, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {script}")
        page.wait_for_timeout(50)


# Installed before the page's own scripts (Playwright's init scripts are not bound by the
# page's Content-Security-Policy): when the form was last edited, and when its live preview
# last answered.
PREVIEW_WATCH = """
window.__edited = 0; window.__answered = 0;
for (const name of ["input", "change"]) {
  document.addEventListener(name, (e) => {
    if (e.target.closest && e.target.closest("form.campaign-form")) {
      window.__edited = performance.now();
    }
  }, true);
}
document.addEventListener("htmx:afterRequest", () => { window.__answered = performance.now(); });
"""


def _settle(page) -> None:
    """Wait until the live preview has answered the last edit (typing waits 400 ms, then
    posts), so the page is never left with its request under way: a request cut off by
    leaving is an error in the console. Waits on the page's own events, not on a clock."""
    _until(page, "!document.querySelector('form.campaign-form') || "
                 "(window.__answered > window.__edited && "
                 "!document.querySelector('.htmx-request'))")  # fmt: skip


def test_a_manager_builds_and_launches_a_p2p_campaign_a_volunteer_works_it(live):
    seed(live.sessions, MEMBERS)
    volunteer(live.sessions, "lead@example.org", role="manager")
    volunteer(live.sessions, "ana.v@example.org", languages=("en", "es"))
    problems: list[str] = []
    with _chromium() as browser:
        boss = _sign_in(browser, live.url, "lead@example.org", problems, lands="/dashboard")
        boss.context.add_init_script(PREVIEW_WATCH)
        boss.goto(f"{live.url}/campaigns/new")
        batch = boss.get_by_label("Batch size (peer-to-peer)")
        assert not batch.is_visible()  # a blast hands out no batches
        boss.get_by_label("Name", exact=True).fill("Rally <Saturday>")
        boss.get_by_label("Message (English").fill("Hi {first_name}, can you come Saturday?")
        boss.get_by_label("Locals").fill("1199")
        replies = boss.get_by_label("Volunteers may answer the replies")
        assert replies.is_visible() and not replies.is_checked()  # a blast's: off by default
        _fits(boss, "create-blast")
        boss.get_by_role("radio", name=re.compile("^Peer-to-peer")).check()
        assert batch.is_visible() and not replies.is_visible()  # P2P volunteers always answer
        batch.fill("2")
        boss.get_by_label("Reclaim time (minutes)").fill("30")
        boss.get_by_label("Title of canned response 1").fill("Where is it?")
        boss.get_by_label("Text of canned response 1").fill("At the <union hall>, {first_name}.")
        boss.get_by_text("Canned response 1 in other languages").click()
        boss.get_by_label("Canned response 1 in Spanish").fill("En el local, {first_name}.")

        # The keyboard alone adds a row: the new row's title has the focus, nothing typed lost.
        add = boss.get_by_role("button", name="Add another canned response")
        add.focus()
        _settle(boss)
        with boss.expect_navigation():
            boss.keyboard.press("Enter")
        _until(boss, "document.activeElement.id.startsWith('f-canned_title_')")
        focused = boss.evaluate("document.activeElement.id")
        assert re.fullmatch(r"f-canned_title_\d+", focused), focused
        assert boss.get_by_label("Title of canned response 1").input_value() == "Where is it?"
        assert boss.get_by_role("radio", name=re.compile("^Peer-to-peer")).is_checked()
        boss.keyboard.type("Parking")
        row = int(focused.rsplit("_", 1)[1]) + 1
        boss.get_by_label(f"Text of canned response {row}").fill("Free parking behind the hall.")

        boss.get_by_label("Survey question").fill("Are you coming?")
        boss.get_by_label("Answer 1", exact=True).fill("Yes")
        boss.get_by_label("Outcome of answer 1").fill("attending")
        boss.get_by_label("Next script line after answer 1").fill("Great, {first_name}!")
        boss.locator('#preview [data-count="textable"]').filter(has_text="6").wait_for()
        _fits(boss, "create")

        # A batch size of 0 is refused beside its field; what was typed stays.
        batch.fill("0")
        batch.evaluate("el => el.form.noValidate = true")  # past the browser's own check
        _settle(boss)
        with boss.expect_navigation():
            boss.get_by_role("button", name="Save draft").click()
        beside = boss.locator("#e-batch_size")
        assert "Batch size must be a whole number from 1 to 1000" in beside.inner_text()
        _until(boss, "document.activeElement.id === 'f-batch_size'")
        assert boss.get_by_label("Title of canned response 1").input_value() == "Where is it?"
        _fits(boss, "error")
        meant = (f"400 {live.url}/campaigns/new", "400 (BAD REQUEST)")  # that refusal was meant
        assert any(meant[0] == p for p in problems), problems
        problems[:] = [p for p in problems if not any(m in p for m in meant)]
        boss.get_by_label("Batch size (peer-to-peer)").fill("2")
        _settle(boss)
        boss.get_by_role("button", name="Save draft").click()
        boss.get_by_role("heading", name="Volunteers and the conversations").wait_for()
        boss.get_by_role("link", name="Edit", exact=True).click()
        assert boss.get_by_label("Batch size (peer-to-peer)").input_value() == "2"
        _fits(boss, "edit")
        _settle(boss)
        boss.get_by_role("button", name="Save and review the launch").click()

        # The click only starts the next page: wait for it rather than look at once.
        boss.get_by_text("Peer-to-peer: nothing is sent when you launch.").wait_for()
        _fits(boss, "launch")
        boss.get_by_role("button", name="Launch now: open 6 members to volunteers").click()
        boss.get_by_text("Launched: nothing is sent yet.").wait_for()
        campaign_id = int(re.search(r"/campaigns/(\d+)$", boss.url).group(1))
        _work_queue(live.settings)  # the launch job sets the members aside
        assert texts_by_phone(live.sandbox) == {}  # nobody texted by the launch

        # The volunteer finds it, takes a batch and sends the first text with the Enter key.
        ana = _sign_in(browser, live.url, "ana.v@example.org", problems)
        card = ana.locator(f'[data-campaign-id="{campaign_id}"]')
        assert card.get_by_role("heading", name="Rally <Saturday>").is_visible()
        card.get_by_role("button", name="Request a batch").click()
        ana.wait_for_url(f"{live.url}/volunteer/campaigns/{campaign_id}")
        first = ana.locator("[data-member-name]").inner_text()
        ana.keyboard.press("Enter")
        _until(ana, "n => document.querySelector('[data-member-name]')?.innerText !== n", first)
        _work_queue(live.settings)
        with live.sessions() as session:
            phone = session.scalar(
                select(Member.phone).join(OutboundMessage, OutboundMessage.member_id == Member.id)
                .where(OutboundMessage.status != "held")
            )  # fmt: skip
        assert list(texts_by_phone(live.sandbox)) == [phone]

        # The member asks; the volunteer answers with the manager's canned response.
        ana.goto(f"{live.url}/volunteer/inbox")
        ana.locator(".inbox[data-live=connected]").wait_for()  # subscribed: replies will show
        _member_replies(live, phone, "Where is it?")
        ana.locator("[data-list=mine] li").filter(has_text="Where is it?").get_by_role(
            "link"
        ).click()
        ana.locator("summary", has_text="Canned responses").click()
        ana.get_by_role("button", name="Use canned response: Parking").wait_for()
        ana.get_by_role("button", name="Use canned response: Where is it?").click()
        assert "union hall" in ana.get_by_label("Message").input_value()
        assert ana.get_by_role("group", name="Are you coming?").is_visible()

        # The campaign page: the settings, and the batch out with its progress.
        boss.reload()
        assert boss.locator('[data-measure="p2p_in_batches"] dd').inner_text() == "1"
        assert boss.locator('[data-measure="p2p_waiting"] dd').inner_text() == "4"
        assert boss.locator("#campaign-batches tr", has_text="ana.v@example.org").is_visible()
        assert boss.get_by_text("At the <union hall>, {first_name}.").is_visible()
        assert boss.get_by_role("link", name=re.compile("supervisor")).is_visible()
        _fits(boss, "campaign")
    assert real_problems(problems) == [], problems
